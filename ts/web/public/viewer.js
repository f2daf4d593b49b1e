// kvs-edge browser viewer: a KVS WebRTC viewer made of the KVS SDK's SignalingClient (served
// locally as kvs-webrtc.min.js) and the browser's RTCPeerConnection. It shows the camera's video,
// plays its audio, sends the microphone while "Hold to talk" is held, exchanges messages on the
// kvsDataChannel, and shows live stats from getStats(). No framework, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const ui = {
  video: $('video'), state: $('state'), channel: $('channel'), error: $('error'),
  connect: $('connect'), disconnect: $('disconnect'), unmute: $('unmute'), talk: $('talk'),
  form: $('send-form'), message: $('message'), send: $('send'), messages: $('messages'), stats: $('stats'),
};
const MAX_MESSAGES = 100;

/** The current connection: { pc, sc, dc, talk, startedAt, firstFrameMs, last }, or null. */
let session = null;
/** The microphone, asked for on the first press of "Hold to talk" and kept. */
let mic = null;
let talking = false;

function setState(text) {
  ui.state.textContent = text;
  ui.state.dataset.state = text;
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

function fail(what, err) {
  showError(what + ': ' + ((err && err.message) || err));
}

/**
 * The SDK signs only wss:// URLs. The local KVS service on loopback speaks plain ws://, so sign
 * the wss:// form and connect to the ws:// form: SigV4 covers host, path and query, not the
 * scheme. Against a wss:// endpoint (real KVS) the SDK's signer is used as it is.
 */
function requestSigner(config) {
  const signer = new KVSWebRTC.SigV4RequestSigner(config.region, config.credentials);
  if (!config.channelEndpoint.startsWith('ws://')) return signer;
  return {
    async getSignedURL(endpoint, queryParams, date) {
      const url = await signer.getSignedURL(endpoint.replace(/^ws:/, 'wss:'), queryParams, date);
      return url.replace(/^wss:/, 'ws:');
    },
  };
}

function addMessage(direction, data) {
  const li = document.createElement('li');
  li.className = direction;
  li.textContent = typeof data === 'string' ? data : '(' + (data.byteLength ?? data.size) + ' bytes of binary)';
  ui.messages.append(li);
  while (ui.messages.children.length > MAX_MESSAGES) ui.messages.firstElementChild.remove();
  li.scrollIntoView({ block: 'nearest' });
}

function setChannelOpen(open) {
  ui.message.disabled = !open;
  ui.send.disabled = !open;
}

/** Plays the camera's video and audio; a browser that refuses sound without a click gets the Unmute button. */
function play() {
  ui.video.muted = false;
  ui.video.play().catch(() => {
    ui.video.muted = true;
    ui.unmute.hidden = false;
    ui.video.play().catch((e) => fail('video', e));
  });
}

/** An answer whose every media line has port 0 is a refusal (the camera's viewer limit); s= says why. */
function refusal(sdp) {
  if (/^m=\S+ [1-9]/m.test(sdp)) return null;
  const s = /^s=(.*)$/m.exec(sdp);
  return (s && s[1].trim()) || 'the camera refused the connection';
}

async function connect() {
  disconnect();
  showError('');
  setState('connecting');
  const startedAt = performance.now();
  const res = await fetch('config.json');
  const config = await res.json();
  if (!res.ok) throw new Error(config.error || 'config.json: HTTP ' + res.status);
  ui.channel.textContent = 'channel ' + config.channelName + ' as ' + config.clientId;

  const pc = new RTCPeerConnection({ iceServers: config.iceServers });
  const sc = new KVSWebRTC.SignalingClient({
    channelARN: config.channelArn,
    channelEndpoint: config.channelEndpoint,
    clientId: config.clientId,
    role: KVSWebRTC.Role.VIEWER,
    region: config.region,
    credentials: config.credentials,
    requestSigner: requestSigner(config),
    systemClockOffset: 0,
  });
  const s = { pc, sc, dc: null, talk: null, startedAt, firstFrameMs: null, last: null };
  session = s;

  pc.addTransceiver('video', { direction: 'recvonly' });
  // Audio both ways: the camera's sound in, and the microphone out while "Hold to talk" is held.
  s.talk = pc.addTransceiver('audio', { direction: 'sendrecv' });
  s.dc = pc.createDataChannel('kvsDataChannel');
  s.dc.onopen = () => setChannelOpen(true);
  s.dc.onclose = () => setChannelOpen(false);
  s.dc.onmessage = (e) => addMessage('in', e.data);

  const remote = new MediaStream();
  pc.ontrack = (e) => {
    remote.addTrack(e.track);
    if (ui.video.srcObject === remote) return;
    ui.video.srcObject = remote;
    ui.video.requestVideoFrameCallback(() => {
      if (session === s) s.firstFrameMs = performance.now() - s.startedAt;
    });
    play();
  };
  pc.onicecandidate = ({ candidate }) => {
    if (candidate) sc.sendIceCandidate(candidate);
  };
  pc.onconnectionstatechange = () => {
    if (session !== s) return;
    setState(pc.connectionState);
    ui.talk.disabled = pc.connectionState !== 'connected';
  };

  sc.on('open', async () => {
    try {
      await pc.setLocalDescription(await pc.createOffer());
      sc.sendSdpOffer(pc.localDescription);
    } catch (e) {
      fail('offer', e);
    }
  });
  sc.on('sdpAnswer', async (answer) => {
    const refused = refusal(answer.sdp);
    if (refused) {
      showError(refused);
      setState('refused');
      return;
    }
    await pc.setRemoteDescription(answer).catch((e) => fail('answer', e));
  });
  sc.on('iceCandidate', (c) => pc.addIceCandidate(c).catch((e) => fail('candidate', e)));
  sc.on('error', (e) => fail('signaling', e));
  sc.open();
}

function disconnect() {
  talkStop();
  const s = session;
  session = null;
  if (s) {
    s.sc.close();
    s.pc.close();
  }
  ui.video.srcObject = null;
  ui.unmute.hidden = true;
  ui.talk.disabled = true;
  setChannelOpen(false);
  setState('not connected');
}

// ---- push-to-talk -------------------------------------------------------------------------

async function talkStart() {
  const s = session;
  if (!s || talking) return;
  talking = true;
  ui.talk.classList.add('talking');
  try {
    mic = mic || (await navigator.mediaDevices.getUserMedia({ audio: true }));
  } catch (e) {
    talkStop();
    fail('microphone', e);
    return;
  }
  // Released (or disconnected) while the browser was asking for the microphone: send nothing.
  if (talking && session === s) await s.talk.sender.replaceTrack(mic.getAudioTracks()[0]);
}

function talkStop() {
  talking = false;
  ui.talk.classList.remove('talking');
  if (session) session.talk.sender.replaceTrack(null).catch(() => undefined);
}

// ---- stats --------------------------------------------------------------------------------

function show(id, text) {
  $(id).textContent = text;
}

async function updateStats() {
  const s = session;
  if (!s) return;
  const report = await s.pc.getStats();
  let video, audioIn, audioOut, pair;
  report.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') video = r;
    else if (r.type === 'inbound-rtp' && r.kind === 'audio') audioIn = r;
    else if (r.type === 'outbound-rtp' && r.kind === 'audio') audioOut = r;
    else if (r.type === 'transport' && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId);
  });
  if (s.firstFrameMs !== null) show('s-ttff', s.firstFrameMs.toFixed(0) + ' ms');
  if (video) {
    const now = { t: video.timestamp, bytes: video.bytesReceived || 0, frames: video.framesDecoded || 0, lost: video.packetsLost || 0, got: video.packetsReceived || 0 };
    const prev = s.last;
    s.last = now;
    show('s-resolution', (video.frameWidth || 0) + 'x' + (video.frameHeight || 0));
    show('s-frames', String(now.frames));
    ui.stats.dataset.framesDecoded = String(now.frames);
    if (prev && now.t > prev.t) {
      const dt = (now.t - prev.t) / 1000;
      const lost = Math.max(0, now.lost - prev.lost);
      const sent = lost + (now.got - prev.got);
      show('s-fps', ((now.frames - prev.frames) / dt).toFixed(1));
      show('s-bitrate', (((now.bytes - prev.bytes) * 8) / 1000 / dt).toFixed(0) + ' kbps');
      show('s-loss', (sent > 0 ? (100 * lost) / sent : 0).toFixed(1) + ' % (' + now.lost + ' packets in all)');
    }
  }
  if (pair) {
    if (typeof pair.currentRoundTripTime === 'number') show('s-rtt', (pair.currentRoundTripTime * 1000).toFixed(1) + ' ms');
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    if (local && remote) show('s-pair', local.candidateType + ' ⇄ ' + remote.candidateType + ' (' + local.protocol + ')');
  }
  if (audioIn) show('s-audio-in', (audioIn.packetsReceived || 0) + ' packets');
  if (audioOut) show('s-audio-out', (audioOut.packetsSent || 0) + ' packets');
}

// ---- wiring -------------------------------------------------------------------------------

ui.connect.onclick = () => connect().catch((e) => fail('connect', e));
ui.disconnect.onclick = disconnect;
ui.unmute.onclick = () => {
  ui.video.muted = false;
  ui.unmute.hidden = true;
  ui.video.play().catch((e) => fail('audio', e));
};
ui.talk.addEventListener('pointerdown', (e) => {
  ui.talk.setPointerCapture(e.pointerId);
  talkStart();
});
ui.talk.addEventListener('pointerup', talkStop);
ui.talk.addEventListener('pointercancel', talkStop);
ui.talk.addEventListener('keydown', (e) => {
  if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
    e.preventDefault();
    talkStart();
  }
});
ui.talk.addEventListener('keyup', (e) => {
  if (e.key === ' ' || e.key === 'Enter') talkStop();
});
window.addEventListener('blur', talkStop);
ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.message.value;
  if (!text || !session || !session.dc || session.dc.readyState !== 'open') return;
  session.dc.send(text);
  addMessage('out', text);
  ui.message.value = '';
});
setInterval(() => updateStats().catch(() => undefined), 1000);
connect().catch((e) => fail('connect', e));
