// `npm start` as a newcomer sees it. In process: the demo (local KVS service, aedes, the device
// runtime, MQTT remote control) and the browser viewer page in headless Chromium with a fake
// microphone: the page connects through the KVS SDK, frames are decoded and the picture moves,
// the tone arrives, a data-channel message comes back, push-to-talk reaches the device (seen
// over MQTT and in the WAV it writes), and the page loads nothing from outside. As a process:
// `kvs-edge demo` prints the URL and MQTT commands that work, and SIGINT stops it with exit 0.
import { spawn, execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import t from 'tap';
import { startDemo, DEMO_DEVICE_ID } from '../../ts/demo/demo.js';
import { FleetClient } from '../../ts/remote/fleet-client.js';
import type { ViewerInfo } from '../../ts/runtime/controller.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../peers/chromium.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(repo, 'bin', 'kvs-edge.js');
const ADDON = join(repo, 'build', 'Release', 'kvs_edge.node');
const ARGS = [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];
const SKIP = !(existsSync(CHROMIUM_PATH) && existsSync(ADDON)) && 'needs /usr/bin/chromium and build/Release/kvs_edge.node';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `read` every 250 ms until `ok` holds, at most `ms`; returns the last value. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await read();
  while (!ok(v) && Date.now() < end) {
    await sleep(250);
    v = await read();
  }
  return v;
}

const text = async (page: Page, sel: string): Promise<string> => (await page.textContent(sel)) ?? '';
const num = (s: string): number => Number(/-?\d+(\.\d+)?/.exec(s)?.[0] ?? NaN);

t.test('the viewer page: video, audio, data channel, push-to-talk, stats, nothing external', { skip: SKIP }, async (t) => {
  const demo = await startDemo({ port: 0, mqttPort: 0, logLevel: 'silent', video: { width: 640, height: 360, fps: 30, bitrateKbps: 600 } });
  t.teardown(() => demo.close());
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, timeout: 60_000 });
  t.teardown(() => browser.close());
  const fleet = await FleetClient.connect({ url: demo.mqttUrl, protocolVersion: 4 });
  t.teardown(() => fleet.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const sockets: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });

  await page.goto(demo.url);
  const frames = () => page.evaluate(() => Number(document.getElementById('stats')?.dataset['framesDecoded'] ?? 0));
  const f1 = await until(frames, (n) => n >= 30, 60_000);
  t.ok(f1 >= 30, `Chromium decoded frames from the device (${f1}; state "${await text(page, '#state')}", error "${await text(page, '#error')}")`);
  t.equal(await text(page, '#state'), 'connected', 'the page says connected');
  const f2 = await until(frames, (n) => n >= f1 + 30, 30_000);
  t.ok(f2 >= f1 + 30, `framesDecoded grows (${f1} -> ${f2})`);

  const video = page.locator('video');
  const a = await video.screenshot();
  await sleep(1000);
  const b = await video.screenshot();
  t.not(a.toString('base64'), b.toString('base64'), 'two screenshots of the video a second apart differ: the test pattern moves');

  // The stats panel, as a user reads it.
  t.equal(await text(page, '#s-resolution'), '640x360', 'resolution');
  t.match(await text(page, '#s-ttff'), /^\d+ ms$/, 'time to first frame');
  t.ok(num(await text(page, '#s-fps')) > 0, `fps (${await text(page, '#s-fps')})`);
  t.match(await text(page, '#s-bitrate'), /^\d+ kbps$/, 'bitrate');
  t.ok(num(await text(page, '#s-bitrate')) > 0, `bitrate above zero (${await text(page, '#s-bitrate')})`);
  t.match(await text(page, '#s-loss'), /^\d+\.\d % \(\d+ packets in all\)$/, 'loss');
  const rtt = await until(() => text(page, '#s-rtt'), (s) => /ms$/.test(s), 15_000);
  t.match(rtt, /^\d+(\.\d)? ms$/, `RTT (${rtt})`);
  const heard = await until(() => text(page, '#s-audio-in'), (s) => num(s) >= 50, 15_000);
  t.ok(num(heard) >= 50, `the device's tone arrives (${heard})`);
  t.equal(await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).muted), false, 'and is played with sound on');

  // Data channel: what is sent comes back from the device.
  await page.fill('#message', 'hello from the browser');
  await page.click('#send');
  const echoed = await until(() => page.$$eval('#messages li.in', (li) => li.map((x) => x.textContent)), (l) => l.length > 0, 15_000);
  t.same(echoed, ['hello from the browser'], 'the message came back on kvsDataChannel');
  t.same(await page.$$eval('#messages li.out', (li) => li.map((x) => x.textContent)), ['hello from the browser'], 'and the sent one is listed');

  // Push-to-talk: nothing is sent before the button is pressed; while it is held the device
  // receives the microphone (seen over MQTT, as a fleet manager would), and after release it stops.
  const viewers = async (): Promise<ViewerInfo[]> => ((await fleet.send(DEMO_DEVICE_ID, 'viewers', {}, { timeoutMs: 10_000 })) as { viewers: ViewerInfo[] }).viewers;
  let list = await viewers();
  t.equal(list.length, 1, 'one viewer on the device');
  t.equal(list[0]?.audioPacketsReceived, 0, 'no talk-back before the button is pressed');
  t.ok((list[0]?.dataMessagesReceived ?? 0) >= 1, 'the device counted the data-channel message');
  await page.hover('#talk');
  await page.mouse.down();
  list = await until(viewers, (l) => (l[0]?.audioPacketsReceived ?? 0) >= 50, 20_000);
  t.ok((list[0]?.audioPacketsReceived ?? 0) >= 50, `while held, the device receives the microphone (${list[0]?.audioPacketsReceived} packets)`);
  t.ok(num(await text(page, '#s-audio-out')) > 0, `the page counts what it sent (${await text(page, '#s-audio-out')})`);
  await page.mouse.up();
  await sleep(1000);
  const released = (await viewers())[0]?.audioPacketsReceived ?? 0;
  await sleep(1500);
  const later = (await viewers())[0]?.audioPacketsReceived ?? 0;
  t.ok(later - released <= 2, `after release nothing more is sent (${released} -> ${later})`);
  const wavs = readdirSync(demo.talkbackDir).filter((f) => f.endsWith('.wav'));
  t.equal(wavs.length, 1, 'the device wrote the talk-back to a WAV file');
  if (wavs[0]) t.ok(statSync(join(demo.talkbackDir, wavs[0])).size > 48_000, 'with sound in it');

  // Nothing from outside: every request went to the page's server, the only WebSocket to the
  // local KVS service (the CSP would block anything else; this checks what was asked for).
  const origin = new URL(demo.url).origin;
  const outside = requests.filter((u) => !u.startsWith(origin + '/'));
  t.same(outside, [], `every request went to ${origin}`);
  t.ok(requests.some((u) => u.endsWith('/kvs-webrtc.min.js')), 'the KVS SDK came from the local server');
  t.ok(sockets.length >= 1 && sockets.every((u) => u.startsWith(demo.local.wssEndpoint + '/')), `signaling went to the local service (${sockets.join(', ')})`);
  t.same(pageErrors, [], 'no error in the page');
  t.equal(await page.isHidden('#error'), true, 'no error shown');
});

t.test('taken ports fall back to free ones; the page server answers bad requests clearly', { skip: SKIP }, async (t) => {
  // What happens when 8080 or 1883 is already in use on a newcomer's machine.
  const taken = await Promise.all([0, 0].map(() => new Promise<Server>((r) => { const s = createServer(); s.listen(0, '127.0.0.1', () => r(s)); })));
  t.teardown(() => Promise.all(taken.map((s) => new Promise((r) => s.close(r)))));
  const [webPort, mqttPort] = taken.map((s) => (s.address() as AddressInfo).port);
  const demo = await startDemo({ port: webPort, mqttPort, logLevel: 'silent', video: { width: 320, height: 240, fps: 15 } });
  t.teardown(() => demo.close());
  t.not(new URL(demo.url).port, String(webPort), 'the page moved to a free port');
  t.not(new URL(demo.mqttUrl).port, String(mqttPort), 'the broker moved to a free port');
  const fleet = await FleetClient.connect({ url: demo.mqttUrl, protocolVersion: 4 });
  t.teardown(() => fleet.close());
  t.match(await fleet.send(DEMO_DEVICE_ID, 'status', {}, { timeoutMs: 10_000 }), { state: 'ready', channel: 'kvs-edge-demo', encoder: 'openh264' }, 'the device answers on the moved broker');
  const page = await fetch(demo.url);
  t.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  t.match(csp, /default-src 'none'/, 'a CSP that allows nothing by default');
  t.match(csp, /script-src 'self'(;|$)/, 'scripts only from the page server');
  t.notMatch(csp.replace(demo.local.wssEndpoint, ''), /https?:|wss?:/, 'no other origin is allowed');
  const cfg = (await (await fetch(new URL('config.json?clientId=me-1', demo.url))).json()) as Record<string, unknown>;
  t.match(cfg, { channelName: 'kvs-edge-demo', clientId: 'me-1', region: demo.local.region, channelEndpoint: demo.local.wssEndpoint });
  t.match(String(cfg['channelArn']), /^arn:aws:kinesisvideo:/);
  const bad = await fetch(new URL('config.json?clientId=a/b', demo.url));
  t.equal(bad.status, 400);
  t.match(((await bad.json()) as { error: string }).error, /clientId/);
  t.equal((await fetch(demo.url, { method: 'POST', body: 'x' })).status, 405);
  t.equal((await fetch(new URL('/../../etc/passwd', demo.url))).status, 404);
  t.equal((await fetch(new URL('/nope', demo.url))).status, 404);
});

/** Splits a printed shell command line (words, and '...' quoted words). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const BUILT = existsSync(join(repo, 'dist', 'cli', 'main.js'));

t.test('kvs-edge demo (npm start) prints the URL and MQTT commands that work; SIGINT stops it with exit 0', { skip: SKIP || (!BUILT && 'needs dist/ (npx tsc)') }, async (t) => {
  const child = spawn(process.execPath, [BIN, 'demo', '--port', '0', '--mqtt-port', '0', '--width', '320', '--height', '240', '--fps', '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await until(async () => stdout, (s) => s.includes('Ctrl-C stops everything.') || child.exitCode !== null, 60_000);
  t.match(stdout, /Ctrl-C stops everything\./, `started (stderr: ${stderr})`);
  const url = /viewer page\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1];
  t.ok(url, 'prints the page URL');
  if (url) {
    const r = await fetch(url);
    t.equal(r.status, 200, 'the page is served');
    t.match(await r.text(), /kvs-edge viewer/);
  }
  const examples = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('npx kvs-edge send '));
  t.equal(examples.length, 2, 'prints MQTT commands to try');
  for (const line of examples) {
    const argv = words(line).slice(2); // without "npx kvs-edge"
    const r = await runCli(argv);
    t.equal(r.code, 0, `"${line}" works (stderr: ${r.stderr})`);
    const answer: unknown = JSON.parse(r.stdout);
    if (argv[2] === 'set-bitrate') t.same(answer, { kbps: 800 }, 'set-bitrate answered with the bitrate set');
    else t.ok(Array.isArray((answer as { viewers?: unknown }).viewers), 'viewers answered with the list of viewers');
  }
  child.kill('SIGINT');
  const end = await Promise.race([exited, sleep(30_000).then(() => null)]);
  t.ok(end, 'exited within 30 s of SIGINT');
  t.same(end, { code: 0, signal: null }, 'with exit code 0, by itself (nothing left holding the event loop)');
  t.match(stdout, /kvs-edge demo: stopped/);
  t.equal(stderr, '', 'nothing on stderr');
});
