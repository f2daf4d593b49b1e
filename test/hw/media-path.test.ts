// The hardware media path at node level, on this machine (no hardware encoder): `auto` falls back
// to openh264 and says why (track stats, the runtime status over MQTT); raw frames from a pipe
// command reach a real viewer (Chromium decodes them, colours intact); capture timestamps
// travel as SEI and an engine viewer reports glass-to-glass latency; probe reports the machine.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PeerConnection, VideoTrack, probeV4l2 } from '../../ts/native/index.js';
import { launch, ChromiumViewer } from '../native/chromium-viewer.js';
import { connectEngineViewer } from '../native/engine-pair.js';

const ADDON = new URL('../../build/Release/kvs_edge.node', import.meta.url);
const SKIP = !existsSync(ADDON) && 'needs build/Release/kvs_edge.node';
const RAW = fileURLToPath(new URL('./fixtures/raw-frames.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The engine as a viewer of an engine camera sending `track`, on loopback. */
async function engineViewer(t: { teardown(fn: () => unknown): void }, track: VideoTrack): Promise<PeerConnection> {
  const camera = new PeerConnection({ id: 'hw-camera', localAddresses: ['127.0.0.1'] });
  camera.addTrack(track);
  const viewer = new PeerConnection({ id: 'hw-viewer', localAddresses: ['127.0.0.1'] });
  t.teardown(() => {
    viewer.close();
    camera.close();
  });
  await connectEngineViewer(camera, viewer);
  return viewer;
}

async function framesAtViewer(pc: PeerConnection, n: number, ms: number) {
  let s = await pc.getStats();
  for (const end = Date.now() + ms; s.framesReceived < n && Date.now() < end; ) {
    await sleep(100);
    s = await pc.getStats();
  }
  return s;
}

t.test('auto without a usable hardware encoder runs openh264 and says why', { skip: SKIP }, async (t) => {
  const missing = new VideoTrack({ width: 320, height: 240, encoder: 'auto', encoderDevice: '/dev/video11', encoderQuirks: ['needs-stride-multiple-of-32'] });
  t.teardown(() => missing.close());
  t.match(missing.stats(), { encoder: 'openh264', encoderReason: /^auto: \/dev\/video11: No such file or directory; software encoder$/ });
  const notV4l2 = new VideoTrack({ width: 320, height: 240, encoder: 'auto', encoderDevice: '/dev/null' });
  t.teardown(() => notV4l2.close());
  t.match(notV4l2.stats(), { encoder: 'openh264', encoderReason: /\/dev\/null: not a V4L2 device/ });
  const none = new VideoTrack({ width: 320, height: 240, encoder: 'auto' });
  t.teardown(() => none.close());
  t.match(none.stats().encoderReason, /no V4L2 M2M encoder device/);
  t.throws(() => new VideoTrack({ encoder: 'v4l2m2m', encoderDevice: '/dev/video11' }), /video\.encoder v4l2m2m: \/dev\/video11: No such file/, 'v4l2m2m does not fall back');
  const quirk = new VideoTrack({ width: 320, height: 240, encoder: 'auto', encoderDevice: '/dev/video11', encoderQuirks: ['warp-drive'] });
  t.teardown(() => quirk.close());
  t.match(quirk.stats(), { encoder: 'openh264', encoderReason: /quirk "warp-drive" is not known/ }, 'an unknown board quirk is reported, not ignored');
  t.throws(() => new VideoTrack({ encoder: 'v4l2m2m', encoderDevice: '/dev/video11', encoderQuirks: ['warp-drive'] }), /quirk "warp-drive"/);
  t.throws(() => new VideoTrack({ encoder: 'hevc' as never }), /encoder="hevc"/);

  // The fallback encoder really runs: a viewer gets frames, and bitrate/keyframe requests reach it.
  const viewer = await engineViewer(t, missing);
  const s = await framesAtViewer(viewer, 30, 20_000);
  t.ok(s.framesReceived >= 30, `viewer received ${s.framesReceived} frames from the fallback encoder`);
  const before = missing.stats().keyframesEncoded;
  missing.requestKeyframe();
  for (let i = 0; i < 50 && missing.stats().keyframesEncoded === before; i++) await sleep(100);
  t.ok(missing.stats().keyframesEncoded > before, 'a keyframe request reached openh264');
  missing.setBitrate(300);
  t.equal(missing.stats().bitrateKbps, 300, 'the bitrate change reached the pipeline');
});

t.test('a V4L2 source that cannot open names the device and the reason', { skip: SKIP }, async (t) => {
  t.throws(() => new VideoTrack({ source: 'v4l2', device: '/dev/video0' }), /\/dev\/video0: No such file or directory/);
  t.throws(() => new VideoTrack({ source: 'v4l2', device: '/dev/null' }), /\/dev\/null: not a V4L2 device/);
  t.throws(() => new VideoTrack({ source: 'v4l2', device: '/dev/null', captureFormat: 'MJPG' }), /MJPEG\) is not supported: kvs-edge does not decode JPEG/);
  t.throws(() => new VideoTrack({ source: 'pipe', command: ['true'], pipeFormat: 'rgb' as never }), /pipe format="rgb"/);
});

t.test('raw NV12/I420/YUYV frames from a pipe command are encoded and Chromium decodes them, colours intact', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.teardown(() => browser.close());
  for (const fmt of ['nv12', 'i420', 'yuyv'] as const) {
    const track = new VideoTrack({ source: 'pipe', pipeFormat: fmt, command: [process.execPath, RAW, '320', '240', fmt, '0', '30'], width: 320, height: 240, fps: 30, encoder: 'auto' });
    const camera = new PeerConnection({ id: `raw-${fmt}`, localAddresses: ['127.0.0.1'] });
    camera.addTrack(track);
    const viewer = await ChromiumViewer.open(browser, camera);
    await viewer.negotiate();
    const got = await viewer.waitForFrames(30, 30_000);
    t.ok(got.frames >= 30, `${fmt}: Chromium decoded ${got.frames} frames`);
    t.equal(got.width, 320, `${fmt}: at 320 wide`);
    // Draw the received video into a canvas and read the middle of each half.
    const px = await viewer.page.evaluate(async () => {
      const w = window as unknown as { v: RTCPeerConnection };
      const video = document.createElement('video');
      video.muted = true;
      video.srcObject = new MediaStream([w.v.getReceivers()[0]!.track]);
      await video.play();
      await new Promise((r) => setTimeout(r, 500));
      const c = document.createElement('canvas');
      c.width = video.videoWidth;
      c.height = video.videoHeight;
      const g = c.getContext('2d')!;
      g.drawImage(video, 0, 0);
      const at = (x: number) => Array.from(g.getImageData(x, c.height / 2, 1, 1).data.slice(0, 3));
      return { left: at(c.width / 4), right: at((3 * c.width) / 4) };
    });
    const [lr, lg, lb] = px.left as [number, number, number];
    const [rr, rg, rb] = px.right as [number, number, number];
    t.ok(lr > 180 && lg < 80 && lb < 80, `${fmt}: left half is red (${px.left.join(',')})`);
    t.ok(rb > 180 && rr < 80 && rg < 80, `${fmt}: right half is blue (${px.right.join(',')})`);
    const s = track.stats();
    t.match(s, { encoder: 'openh264', source: new RegExp(`^pipe ".*" ${fmt} 320x240$`), sourceRestarts: 0 });
    camera.close();
    track.close();
    await viewer.page.close();
  }
});

t.test('a raw pipe command that exits is restarted and frames go on', { skip: SKIP, timeout: 60_000 }, async (t) => {
  const track = new VideoTrack({ source: 'pipe', pipeFormat: 'i420', command: [process.execPath, RAW, '160', '120', 'i420', '10', '30'], width: 160, height: 120, fps: 30 });
  t.teardown(() => track.close());
  const viewer = await engineViewer(t, track);
  const s = await framesAtViewer(viewer, 15, 30_000);
  t.ok(s.framesReceived >= 15, `${s.framesReceived} frames received across restarts of a 10-frame command`);
  t.ok(track.stats().sourceRestarts >= 1, `restarted ${track.stats().sourceRestarts} times`);
  const bad = new VideoTrack({ source: 'pipe', pipeFormat: 'nv12', command: ['/nonexistent/camera-cmd'], width: 160, height: 120 });
  t.teardown(() => bad.close());
  const v2 = await engineViewer(t, bad);
  await sleep(1500);
  t.equal((await v2.getStats()).framesReceived, 0, 'a command that cannot start gives no frames, and nothing crashes');
});

t.test('capture timestamps travel as SEI and the engine viewer reports glass-to-glass latency', { skip: SKIP, timeout: 60_000 }, async (t) => {
  const stamped = new VideoTrack({ width: 320, height: 240, fps: 30, captureTimestamps: true });
  t.teardown(() => stamped.close());
  const viewer = await engineViewer(t, stamped);
  const s = await framesAtViewer(viewer, 60, 30_000);
  t.ok(s.framesReceived >= 60, `${s.framesReceived} frames`);
  t.ok((s.glassToGlassSamples ?? 0) >= 60, `every frame carried a timestamp (${s.glassToGlassSamples})`);
  t.ok(s.glassToGlassMs !== undefined && s.glassToGlassMs >= 0 && s.glassToGlassMs < 2000, `last glass-to-glass ${s.glassToGlassMs?.toFixed(2)} ms`);
  t.ok(s.glassToGlassMeanMs !== undefined && s.glassToGlassMeanMs >= 0 && s.glassToGlassMeanMs < 2000, `mean glass-to-glass ${s.glassToGlassMeanMs?.toFixed(2)} ms on loopback`);
  t.comment(`glass-to-glass on loopback: mean ${s.glassToGlassMeanMs?.toFixed(2)} ms over ${s.glassToGlassSamples} frames`);

  const plain = new VideoTrack({ width: 320, height: 240, fps: 30 });
  t.teardown(() => plain.close());
  const v2 = await engineViewer(t, plain);
  const s2 = await framesAtViewer(v2, 30, 30_000);
  t.ok(s2.framesReceived >= 30);
  t.equal(s2.glassToGlassMs, undefined, 'without captureTimestamps there is no latency figure');
});

t.test('probe: the native side lists V4L2 nodes; this machine has no hardware encoder', { skip: SKIP }, async (t) => {
  const nodes = probeV4l2();
  t.ok(Array.isArray(nodes), 'a list');
  t.notOk(nodes.some((n) => n.isH264Encoder), 'no V4L2 M2M H.264 encoder here');
  t.match(probeV4l2(['/dev/null', '/dev/video11']), [
    { path: '/dev/null', opened: false, error: /not a V4L2 device/, isH264Encoder: false },
    { path: '/dev/video11', opened: false, error: /No such file/, isH264Encoder: false },
  ]);
  t.ok(existsSync(join(ROOT, 'dist/cli/main.js')), 'dist/ is built (npx tsc)');
  const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/kvs-edge.js'), 'probe', ...args], { encoding: 'utf8', cwd: ROOT });
  const here = cli([]);
  t.equal(here.status, 0, here.stderr);
  const rep = JSON.parse(here.stdout) as Record<string, unknown>;
  t.match(rep, { auto: { encoder: 'openh264', device: null }, wouldOpen: [{ encoder: 'openh264' }] });
  t.ok(Array.isArray(rep['devices']), 'lists the /dev/video* nodes it queried');
  const pi = cli(['--board', 'rpi-4']);
  t.equal(pi.status, 0, pi.stderr);
  t.match(JSON.parse(pi.stdout), {
    board: { id: 'rpi-4' },
    encoders: [{ device: '/dev/video11', driver: 'bcm2835-codec', exists: false, opened: false, usable: false, detail: /No such file/ }],
    auto: { encoder: 'openh264', device: null, reason: /\/dev\/video11/ },
    wouldOpen: [{ encoder: 'v4l2m2m', device: '/dev/video11', quirks: ['stateful-encoder', 'needs-stride-multiple-of-32'] }, { encoder: 'openh264' }],
  });
});
