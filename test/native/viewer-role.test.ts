// The engine as a viewer (what HIL rigs use to check a camera): it makes the offer, takes the
// answer, and counts complete H.264 access units — from the engine's own master, and from
// Chromium sending a canvas stream.
import t from 'tap';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { launch } from './chromium-viewer.js';
import { connectEngineViewer } from './engine-pair.js';

async function waitFor(pc: PeerConnection, frames: number, ms: number) {
  let s = await pc.getStats();
  for (let end = Date.now() + ms; s.framesReceived < frames && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 100));
    s = await pc.getStats();
  }
  return s;
}

t.test('engine viewer <- engine camera: frames, keyframes and time to first frame', async (t) => {
  const track = new VideoTrack({ width: 640, height: 480, fps: 30, bitrateKbps: 800 });
  const camera = new PeerConnection({ id: 'camera' });
  camera.addTrack(track);
  const viewer = new PeerConnection({ id: 'viewer' });
  t.teardown(() => { viewer.close(); camera.close(); track.close(); });
  const { offer } = await connectEngineViewer(camera, viewer);
  t.match(offer, /a=setup:actpass/);
  t.match(offer, /m=video 9 UDP\/TLS\/RTP\/SAVPF 102/);
  t.match(offer, /a=recvonly/);
  const s = await waitFor(viewer, 60, 10000);
  t.ok(s.framesReceived >= 60, `60 frames received (${s.framesReceived})`);
  t.ok(s.keyframesReceived >= 1, 'starting with a keyframe');
  t.equal(s.incompleteFrames, 0, 'none incomplete on loopback');
  t.type(s.timing.firstFrameReceivedMs, 'number', `time to first frame measured: ${s.timing.firstFrameReceivedMs?.toFixed(1)} ms`);
  t.equal(s.dtlsRole, 'server', 'the camera answered active, so the viewer is the DTLS server');
  // The viewer sends receiver reports (RFC 3550 6.4.2): the camera learns loss and, through its
  // own sender reports echoed back (LSR/DLSR), the round-trip time.
  let cam = await camera.getStats();
  for (const end = Date.now() + 10_000; cam.rttMs === undefined && Date.now() < end; cam = await camera.getStats()) await new Promise((r) => setTimeout(r, 200));
  const v = await viewer.getStats();
  t.ok(v.receiverReportsSent >= 1, `the viewer sent receiver reports (${v.receiverReportsSent})`);
  t.ok(cam.rttMs !== undefined && cam.rttMs >= 0 && cam.rttMs < 1000, `the camera measured the RTT from them (${cam.rttMs?.toFixed(2)} ms)`);
  t.equal(cam.fractionLost, 0, 'and no loss on loopback');
});

t.test('a viewer joining a running camera gets an IDR made at once from the last picture', async (t) => {
  // 5 fps: a picture every 200 ms, so an IDR that waited for the next capture would be seen.
  const track = new VideoTrack({ width: 320, height: 240, fps: 5, bitrateKbps: 300, keyframeInterval: 1000 });
  const camera1 = new PeerConnection({ id: 'camera-first' });
  const camera2 = new PeerConnection({ id: 'camera-second' });
  camera1.addTrack(track);
  camera2.addTrack(track);
  const first = new PeerConnection({ id: 'viewer-first' });
  const second = new PeerConnection({ id: 'viewer-second' });
  t.teardown(() => { first.close(); second.close(); camera1.close(); camera2.close(); track.close(); });
  await connectEngineViewer(camera1, first);
  await waitFor(first, 3, 10000);
  const before = track.stats();
  await connectEngineViewer(camera2, second);
  const s = await waitFor(second, 1, 10000);
  t.ok(s.keyframesReceived >= 1 && s.framesReceived >= 1, `the second viewer starts with a keyframe (${s.framesReceived} frame(s))`);
  const after = track.stats();
  t.ok(after.immediateKeyframes > before.immediateKeyframes, `the IDR was made from the last picture at once (${after.immediateKeyframes - before.immediateKeyframes})`);
  t.ok(after.keyframesEncoded > before.keyframesEncoded, 'a new IDR, not the first viewer\'s');
});

t.test('engine viewer <- Chromium sending H.264 from a canvas', async (t) => {
  const browser = await launch();
  const viewer = new PeerConnection({ id: 'hil-viewer' });
  t.teardown(async () => { viewer.close(); await browser.close(); });
  const page = await browser.newPage();
  await page.exposeFunction('toEngine', (c: { candidate: string; sdpMid?: string | null }) => {
    try { viewer.addRemoteCandidate(c); } catch { /* ignored */ }
  });
  viewer.on('candidate', (c) => { page.evaluate((c) => (window as unknown as { cam: RTCPeerConnection }).cam.addIceCandidate(c), c).catch(() => undefined); });
  const offer = await viewer.createOffer();
  const answer = await page.evaluate(async (offer) => {
    const w = window as unknown as { cam: RTCPeerConnection; toEngine(c: RTCIceCandidateInit): void };
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 240;
    const g = canvas.getContext('2d')!;
    let n = 0;
    setInterval(() => { g.fillStyle = `hsl(${(n * 7) % 360} 80% 50%)`; g.fillRect(0, 0, 320, 240); g.fillStyle = '#fff'; g.fillText(String(n++), 20 + (n % 200), 120); }, 33);
    const stream = canvas.captureStream(30);
    w.cam = new RTCPeerConnection();
    w.cam.onicecandidate = (e) => { if (e.candidate) w.toEngine(e.candidate.toJSON()); };
    await w.cam.setRemoteDescription({ type: 'offer', sdp: offer });
    const tr = w.cam.getTransceivers()[0]!;
    tr.direction = 'sendonly';
    await tr.sender.replaceTrack(stream.getVideoTracks()[0]!);
    tr.sender.setStreams(stream);
    const a = await w.cam.createAnswer();
    await w.cam.setLocalDescription(a);
    return a.sdp ?? '';
  }, offer);
  t.match(answer, /H264\/90000/, 'Chromium answers with H.264');
  await viewer.setRemoteAnswer(answer);
  const s = await waitFor(viewer, 60, 15000);
  t.ok(s.framesReceived >= 60, `60 H.264 frames from Chromium (${s.framesReceived})`);
  t.ok(s.keyframesReceived >= 1);
});

t.test('a bad answer is refused with a clear error', async (t) => {
  const viewer = new PeerConnection();
  t.teardown(() => viewer.close());
  await viewer.createOffer();
  await t.rejects(viewer.setRemoteAnswer('garbage'), { code: 'ERR_SDP_PARSE' });
  await t.rejects(viewer.createOffer(), { code: 'ERR_INVALID_STATE' });
  const other = new PeerConnection();
  t.teardown(() => other.close());
  await t.rejects(other.setRemoteAnswer('v=0\r\n'), { code: 'ERR_INVALID_STATE' });
  await t.rejects(other.createOffer({ video: false }), { code: 'ERR_INVALID_ARG' });
});
