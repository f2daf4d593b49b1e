// `kvs-edge view` against `kvs-edge run --local`: the native engine as a KVS viewer reports the
// camera's frames, keyframes, time to first frame and its phases; `view --web` serves the
// browser viewer page for the channel.
import { existsSync } from 'node:fs';
import t from 'tap';
import { cliReady as ready, kvsEdge, startLocalCamera } from '../runtime/fixtures/local-camera.js';

const sources: Record<string, unknown> = {
  pattern: { type: 'pattern' },
  // A camera whose H.264 comes from a command (here a live GStreamer pipeline), passed through.
  pipe: { type: 'pipe', command: ['gst-launch-1.0', '-q', 'videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=30/1', '!',
    'openh264enc', 'gop-size=30', '!', 'h264parse', 'config-interval=-1', '!', 'video/x-h264,stream-format=byte-stream,alignment=au', '!', 'fdsink', 'fd=1'] },
};

for (const [name, source] of Object.entries(sources)) t.test(`view reports what a camera (${name} source) on the local service sends`, { skip: !ready && 'needs dist/ and the addon (npm run setup)' }, async (t) => {
  // The pattern camera stamps capture times (SEI), so the viewer can report glass-to-glass.
  const stamped = name === 'pattern';
  const cam = await startLocalCamera(t, { channel: { name: 'hil-cam' }, video: { width: 320, height: 240, source, captureTimestamps: stamped } });
  const view = kvsEdge(['view', '--channel', 'hil-cam', ...cam.viewerArgs, '--duration', '3', '--json']);
  const code = await view.exit;
  t.equal(code, 0, `view exits 0 (stderr: ${view.err().slice(-300)})`);
  const r = JSON.parse(view.out().trim().split('\n').pop() ?? '{}') as { connected: boolean; frames: number; keyframes: number; fps: number; lossPercent: number; glassToGlassMs?: number; timeToFirstFrameMs?: number; phases: { iceMs?: number; dtlsMs?: number } };
  t.equal(r.connected, true);
  t.ok(r.frames >= 60, `frames received (${r.frames})`);
  t.ok(r.keyframes >= 1, 'at least one keyframe');
  t.ok(r.fps > 15, `fps measured (${r.fps})`);
  t.type(r.lossPercent, 'number', `loss measured (${r.lossPercent} %)`);
  t.type(r.timeToFirstFrameMs, 'number', `time to first frame ${r.timeToFirstFrameMs} ms`);
  t.type(r.phases.iceMs, 'number', 'ICE phase');
  t.type(r.phases.dtlsMs, 'number', 'DTLS phase');
  if (stamped) t.ok(r.glassToGlassMs !== undefined && r.glassToGlassMs >= 0 && r.glassToGlassMs < 5000, `glass to glass ${r.glassToGlassMs} ms (same host clock)`);
  else t.equal(r.glassToGlassMs, undefined, 'no capture timestamps, no glass-to-glass figure');
  await cam.stop();
});

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

t.test('view --web serves the browser viewer for a channel; Chromium decodes the camera through it', { skip: !(ready && existsSync(CHROMIUM)) && 'needs dist/, the addon and /usr/bin/chromium', timeout: 120_000 }, async (t) => {
  const cam = await startLocalCamera(t, { channel: { name: 'web-cam' }, video: { width: 320, height: 240 }, ice: { kvsStun: false } });
  const web = kvsEdge(['view', '--web', '--port', '0', '--channel', 'web-cam', ...cam.viewerArgs]);
  t.teardown(() => web.kill());
  for (const end = Date.now() + 30_000; !/http:\/\/\S+/.test(web.out());) {
    if (Date.now() > end || web.proc.exitCode !== null) throw new Error(`view --web printed no URL: ${web.out()} ${web.err()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /http:\/\/\S+/.exec(web.out())![0];
  t.match(web.out(), /viewer page for channel web-cam: http:\/\/127\.0\.0\.1:\d+\//);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'], timeout: 60_000 });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(url);
  const frames = (): Promise<number> => page.evaluate(() => Number(document.getElementById('stats')?.dataset['framesDecoded'] ?? 0));
  let f = 0;
  for (const end = Date.now() + 60_000; f < 30 && Date.now() < end; await new Promise((r) => setTimeout(r, 250))) f = await frames();
  t.ok(f >= 30, `Chromium decoded ${f} frames through the page view --web served (state "${await page.textContent('#state')}")`);
  web.kill('SIGINT');
  t.equal(await web.exit, 0, 'Ctrl-C stops it with exit 0');
  await cam.stop();
});
