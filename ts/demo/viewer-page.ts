// The demo's viewer page: plain browser WebRTC, no external scripts. It sends its offer (with
// every candidate, after gathering) to POST /offer and shows the video with live stats.
export const VIEWER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kvs-edge demo viewer</title>
<style>
  body { font-family: system-ui, sans-serif; background: #111; color: #eee; margin: 0; padding: 1rem; }
  video { width: 100%; max-width: 960px; background: #000; display: block; }
  #stats { font-family: monospace; white-space: pre; margin-top: .5rem; }
  button { font-size: 1rem; margin: .5rem .5rem .5rem 0; }
</style>
</head>
<body>
<h1>kvs-edge demo</h1>
<video id="video" autoplay muted playsinline></video>
<div><button id="connect">Connect</button><button id="disconnect">Disconnect</button></div>
<div id="stats">not connected</div>
<script>
let pc = null;
let startedAt = 0;
let firstFrameMs = null;
const video = document.getElementById('video');
const statsEl = document.getElementById('stats');
let last = { bytes: 0, frames: 0, t: 0 };

async function connect() {
  disconnect();
  pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (ev) => {
    video.srcObject = new MediaStream([ev.track]);
    video.requestVideoFrameCallback(() => { firstFrameMs = performance.now() - startedAt; });
  };
  pc.onconnectionstatechange = () => { if (pc) statsEl.dataset.state = pc.connectionState; };
  startedAt = performance.now();
  firstFrameMs = null;
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    setTimeout(resolve, 2000);
  });
  const res = await fetch('/offer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sdp: pc.localDescription.sdp }) });
  const body = await res.json();
  if (!res.ok) { statsEl.textContent = 'error: ' + body.error; return; }
  await pc.setRemoteDescription({ type: 'answer', sdp: body.sdp });
}

function disconnect() {
  if (pc) { pc.close(); pc = null; }
  video.srcObject = null;
}

async function updateStats() {
  if (!pc) return;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
    const dt = (s.timestamp - last.t) / 1000;
    const kbps = dt > 0 ? ((s.bytesReceived - last.bytes) * 8 / 1000 / dt) : 0;
    const fps = dt > 0 ? (s.framesDecoded - last.frames) / dt : 0;
    last = { bytes: s.bytesReceived, frames: s.framesDecoded, t: s.timestamp };
    statsEl.textContent = [
      'state           ' + pc.connectionState,
      'resolution      ' + (s.frameWidth || 0) + 'x' + (s.frameHeight || 0),
      'frames decoded  ' + s.framesDecoded,
      'fps             ' + fps.toFixed(1),
      'bitrate         ' + kbps.toFixed(0) + ' kbps',
      'packets lost    ' + s.packetsLost,
      'first frame     ' + (firstFrameMs === null ? '-' : firstFrameMs.toFixed(0) + ' ms after the offer'),
    ].join('\\n');
    statsEl.dataset.framesDecoded = String(s.framesDecoded);
  });
}

document.getElementById('connect').onclick = connect;
document.getElementById('disconnect').onclick = disconnect;
setInterval(updateStats, 1000);
connect();
</script>
</body>
</html>
`;
