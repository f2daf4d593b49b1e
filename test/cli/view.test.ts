// `kvs-edge view` against `kvs-edge run --local`: the native engine as a KVS viewer reports the
// camera's frames, keyframes, time to first frame and its phases.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'kvs-edge.js');
const ready = existsSync(join(root, 'dist', 'cli', 'main.js')) && existsSync(join(root, 'build', 'Release', 'kvs_edge.node'));

const sources: Record<string, unknown> = {
  pattern: { type: 'pattern' },
  // A camera whose H.264 comes from a command (here a live GStreamer pipeline), passed through.
  pipe: { type: 'pipe', command: ['gst-launch-1.0', '-q', 'videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=30/1', '!',
    'openh264enc', 'gop-size=30', '!', 'h264parse', 'config-interval=-1', '!', 'video/x-h264,stream-format=byte-stream,alignment=au', '!', 'fdsink', 'fd=1'] },
};

for (const [name, source] of Object.entries(sources)) t.test(`view reports what a camera (${name} source) on the local service sends`, { skip: !ready && 'needs dist/ and the addon (npm run setup)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-view-'));
  const cfg = join(dir, 'cam.json');
  writeFileSync(cfg, JSON.stringify({ channel: { name: 'hil-cam' }, video: { width: 320, height: 240, source }, logging: { format: 'json' } }));
  const cam = spawn(process.execPath, [bin, 'run', '--config', cfg, '--local'], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (cam.exitCode === null && cam.signalCode === null) cam.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  let err = '';
  cam.stdout.on('data', (d: Buffer) => (out += d.toString()));
  cam.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (const end = Date.now() + 30_000; !out.includes('\n') || !err.includes('"device started"');) {
    if (Date.now() > end || cam.exitCode !== null) throw new Error(`camera did not start: ${out} ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const local = (JSON.parse(out.split('\n')[0]!) as { local: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } } }).local;
  const view = spawn(process.execPath, [bin, 'view', '--channel', 'hil-cam', '--endpoint', local.endpoint, '--region', local.region,
    '--access-key', local.credentials.accessKeyId, '--secret-key', local.credentials.secretAccessKey, '--duration', '3', '--json'],
  { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
  let vout = '';
  let verr = '';
  view.stdout.on('data', (d: Buffer) => (vout += d.toString()));
  view.stderr.on('data', (d: Buffer) => (verr += d.toString()));
  const code = await new Promise<number | null>((r) => view.once('exit', (c) => r(c)));
  t.equal(code, 0, `view exits 0 (stderr: ${verr.slice(-300)})`);
  const r = JSON.parse(vout.trim().split('\n').pop() ?? '{}') as { connected: boolean; frames: number; keyframes: number; fps: number; timeToFirstFrameMs?: number; phases: { iceMs?: number; dtlsMs?: number } };
  t.equal(r.connected, true);
  t.ok(r.frames >= 60, `frames received (${r.frames})`);
  t.ok(r.keyframes >= 1, 'at least one keyframe');
  t.ok(r.fps > 15, `fps measured (${r.fps})`);
  t.type(r.timeToFirstFrameMs, 'number', `time to first frame ${r.timeToFirstFrameMs} ms`);
  t.type(r.phases.iceMs, 'number', 'ICE phase');
  t.type(r.phases.dtlsMs, 'number', 'DTLS phase');
  cam.kill('SIGTERM');
  await new Promise((r) => cam.once('exit', r));
});

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

t.test('view --web serves the browser viewer for a channel; Chromium decodes the camera through it', { skip: !(ready && existsSync(CHROMIUM)) && 'needs dist/, the addon and /usr/bin/chromium', timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-view-web-'));
  const cfg = join(dir, 'cam.json');
  writeFileSync(cfg, JSON.stringify({ channel: { name: 'web-cam' }, video: { width: 320, height: 240 }, ice: { kvsStun: false }, logging: { format: 'json' } }));
  const cam = spawn(process.execPath, [bin, 'run', '--config', cfg, '--local'], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
  let web: ReturnType<typeof spawn> | undefined;
  t.teardown(() => {
    for (const p of [cam, web]) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  let err = '';
  cam.stdout.on('data', (d: Buffer) => (out += d.toString()));
  cam.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (const end = Date.now() + 30_000; !out.includes('\n') || !err.includes('"device started"');) {
    if (Date.now() > end || cam.exitCode !== null) throw new Error(`camera did not start: ${out} ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const local = (JSON.parse(out.split('\n')[0]!) as { local: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } } }).local;
  web = spawn(process.execPath, [bin, 'view', '--web', '--port', '0', '--channel', 'web-cam', '--endpoint', local.endpoint, '--region', local.region,
    '--access-key', local.credentials.accessKeyId, '--secret-key', local.credentials.secretAccessKey], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
  let wout = '';
  web.stdout!.on('data', (d: Buffer) => (wout += d.toString()));
  for (const end = Date.now() + 30_000; !/http:\/\/\S+/.test(wout);) {
    if (Date.now() > end || web.exitCode !== null) throw new Error(`view --web printed no URL: ${wout}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /http:\/\/\S+/.exec(wout)![0];
  t.match(wout, /viewer page for channel web-cam: http:\/\/127\.0\.0\.1:\d+\//);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'], timeout: 60_000 });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(url);
  const frames = (): Promise<number> => page.evaluate(() => Number(document.getElementById('stats')?.dataset['framesDecoded'] ?? 0));
  let f = 0;
  for (const end = Date.now() + 60_000; f < 30 && Date.now() < end; await new Promise((r) => setTimeout(r, 250))) f = await frames();
  t.ok(f >= 30, `Chromium decoded ${f} frames through the page view --web served (state "${await page.textContent('#state')}")`);
  const exited = new Promise<number | null>((r) => web!.once('exit', (c) => r(c)));
  web.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C stops it with exit 0');
  cam.kill('SIGTERM');
  await new Promise((r) => cam.once('exit', r));
});
