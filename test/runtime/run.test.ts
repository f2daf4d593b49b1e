// End to end, as deployed: `kvs-edge run` in a child process against the local KVS service and
// a real mosquitto. Real viewers (werift, through KVS signaling as VIEWER) receive the test
// pattern; MQTT commands change what they get. Also: the viewer limit, systemd notifications
// on a fake NOTIFY_SOCKET, and SIGTERM.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalService, type LocalKvsService } from '../../ts/local/index.js';
import { FleetClient } from '../../ts/remote/fleet-client.js';
import { startBroker, type Broker } from '../remote/fixtures/broker.js';
import { Watcher } from '../remote/fixtures/watcher.js';
import { KvsViewer, type ServiceInfo } from './fixtures/kvs-viewer.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repo, 'bin', 'kvs-edge.js');
const ADDON = join(repo, 'build', 'Release', 'kvs_edge.node');
const MOSQUITTO = '/usr/sbin/mosquitto';
const missing = [
  [existsSync(ADDON), 'build/Release/kvs_edge.node'],
  [existsSync(join(repo, 'dist', 'cli', 'main.js')), 'dist/ (npx tsc -p tsconfig.json)'],
  [existsSync(MOSQUITTO), MOSQUITTO],
  [existsSync('/usr/bin/python3'), '/usr/bin/python3'],
].filter(([ok]) => !ok).map(([, what]) => what);
const SKIP = missing.length > 0 && `needs ${missing.join(', ')}`;

const CHANNEL = 'rt-cam';
const DEVICE = 'rt-dev';

interface Child {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(file: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, [file, ...args], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Child = {
    proc,
    stdout: [],
    stderr: [],
    exit: new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal }))),
  };
  const lines = (into: string[]) => {
    let buf = '';
    return (d: Buffer): void => {
      buf += d.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      into.push(...parts);
    };
  };
  proc.stdout?.on('data', lines(c.stdout));
  proc.stderr?.on('data', lines(c.stderr));
  const kill = (): void => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  process.once('exit', kill);
  void c.exit.then(() => process.off('exit', kill));
  return c;
}

async function until<T>(what: string, fn: () => T | undefined | false, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('kvs-edge run serves real viewers through KVS signaling and obeys MQTT', { skip: SKIP, timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broker: Broker = await startBroker();
  t.teardown(() => broker.stop());
  const svc: LocalKvsService = await startLocalService({ turn: false, channels: [CHANNEL], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const info: ServiceInfo = { endpoint: svc.endpoint, region: svc.region, credentials: svc.credentials, channel: CHANNEL };

  // The fake systemd: a unix datagram socket that prints what it receives.
  const sock = join(dir, 'notify.sock');
  const notify = spawn('/usr/bin/python3', [join(repo, 'test', 'runtime', 'fixtures', 'notify-socket-cred.py'), sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  const notes: string[] = [];
  notify.stdout.on('data', (d: Buffer) => notes.push(...d.toString('utf8').split('\n').filter(Boolean)));
  t.teardown(() => {
    notify.kill('SIGKILL');
  });
  await until('notify socket', () => notes.includes('listening'), 10_000);

  const config = join(dir, 'device.json');
  writeFileSync(
    config,
    JSON.stringify({
      deviceId: DEVICE,
      region: svc.region,
      endpoints: { controlPlane: svc.endpoint },
      credentials: { source: 'static', ...svc.credentials },
      channel: { name: CHANNEL, createIfMissing: false },
      // A named source the fleet may pick: a camera this machine does not have.
      video: { width: 1280, height: 720, fps: 30, keyframeInterval: 5, bitrate: { minKbps: 100, startKbps: 1500, maxKbps: 3000 }, sources: { usb: { type: 'v4l2', device: '/dev/video9' } } },
      viewers: { max: 1 },
      mqtt: { enabled: true, url: broker.url, telemetryIntervalSec: 1 },
      logging: { level: 'info', format: 'json' },
    }),
  );
  const watch = await Watcher.open(broker.url, [`kvs-edge/${DEVICE}/#`]);
  t.teardown(() => watch.close());
  const fleet = await FleetClient.connect({ url: broker.url });
  t.teardown(() => fleet.close());

  const dev = start(bin, ['run', '--config', config], { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '2000000' });
  t.teardown(async () => {
    if (dev.proc.exitCode === null && dev.proc.signalCode === null) {
      dev.proc.kill('SIGKILL');
      await dev.exit;
    }
  });
  const viewers: KvsViewer[] = [];
  t.teardown(async () => {
    for (const v of viewers) await v.close();
  });

  // systemd: READY=1 once the channel is up, then watchdog pings.
  await until('READY=1 on NOTIFY_SOCKET', () => {
    if (dev.proc.exitCode !== null) throw new Error(`kvs-edge run exited with ${dev.proc.exitCode}`);
    return notes.some((n) => /(^|\|)READY=1(\||$)/.test(n));
  }, 30_000).catch((e: Error) => {
    throw new Error(`${e.message}; device stderr: ${dev.stderr.slice(-10).join('\n')}`);
  });
  t.pass('READY=1 sent to NOTIFY_SOCKET');
  await until('WATCHDOG=1', () => notes.some((n) => /(^|\|)WATCHDOG=1(\||$)/.test(n)), 10_000);
  t.pass('WATCHDOG=1 pings follow (WATCHDOG_USEC=2 s)');
  const senders = new Set(notes.filter((n) => n.startsWith('pid=')).map((n) => n.split('|')[0]));
  t.same([...senders], [`pid=${dev.proc.pid}`], 'every notification comes from the main process itself (NotifyAccess=main)');

  const online = await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/status` && m.body['online'] === true && m.body['state'] === 'ready', 30_000);
  t.match(online.body, { state: 'ready', encoder: 'openh264', viewers: 0, channel: CHANNEL }, 'retained status: ready, no viewer');

  // A real viewer through KVS signaling.
  const a = await KvsViewer.connect(info, 'viewer-a');
  viewers.push(a);
  const got = await a.waitForFrames(30, 30_000);
  t.ok(got.frames >= 30, `viewer-a received ${got.frames} H.264 access units`);
  t.equal(got.firstFrameIsKeyframe, true, 'the first one is an IDR with SPS/PPS');
  t.equal(got.width, 1280);
  t.equal(got.height, 720);
  await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/events` && m.body['type'] === 'viewer-joined' && m.body['clientId'] === 'viewer-a');
  const st = (await fleet.send(DEVICE, 'status')) as Record<string, unknown>;
  t.match(st, { state: 'streaming', viewers: 1, encoder: 'openh264' }, 'status over MQTT shows the viewer');
  const list = (await fleet.send(DEVICE, 'viewers')) as { viewers: { clientId: string }[] };
  t.same(list.viewers.map((v) => v.clientId), ['viewer-a'], 'viewers lists it');
  const tel = await watch.waitFor(
    (m) => m.topic === `kvs-edge/${DEVICE}/telemetry` && Array.isArray(m.body['viewers']) && (m.body['viewers'] as { bitrateKbps: number }[]).some((v) => v.bitrateKbps > 0),
    15_000,
  );
  t.match(tel.body, { viewers: [{ clientId: 'viewer-a', bitrateKbps: Number, fps: Number }], total: { bitrateKbps: Number } }, 'telemetry carries per-viewer bitrate');

  // set-bitrate over MQTT changes what the viewer measures.
  await sleep(1500);
  const before = await a.measureKbps(4000);
  // The test pattern needs ~450 kbps at 720p with an IDR every 5 frames, under the 1500 kbps
  // start target; 100 kbps is well under what it needs, so the encoder must squeeze it.
  t.same(await fleet.send(DEVICE, 'set-bitrate', { kbps: 100 }), { kbps: 100 });
  await sleep(2000);
  const after = await a.measureKbps(4000);
  t.ok(before > 300, `before: the viewer receives ${before.toFixed(0)} kbps (1500 kbps target)`);
  t.ok(after < before * 0.4, `after set-bitrate 100: ${after.toFixed(0)} kbps (was ${before.toFixed(0)})`);
  t.ok(after > 30, 'and video still flows');
  const f0 = a.frames;
  await sleep(2000);
  t.ok(a.frames > f0, `frames keep coming at the low bitrate (openh264 skips some: ${a.frames - f0} in 2 s)`);

  // The viewer limit (max 1): a second viewer is refused in signaling, no peer is made.
  const b = await KvsViewer.connect(info, 'viewer-b');
  viewers.push(b);
  await b.answered(15_000);
  t.match(b.refusal, /viewer limit reached \(1 viewers\)/, `viewer-b refused: ${b.refusal ?? 'not refused'}`);
  await sleep(1500);
  t.equal(b.frames, 0, 'viewer-b gets no media');
  t.match((await fleet.send(DEVICE, 'status')) as Record<string, unknown>, { viewers: 1 }, 'still one viewer');

  // kick-viewer disconnects viewer-a: its media stops.
  t.same(await fleet.send(DEVICE, 'kick-viewer', { clientId: 'viewer-a' }), { kicked: 'viewer-a' });
  const left = await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/events` && m.body['type'] === 'viewer-left' && m.body['clientId'] === 'viewer-a');
  t.equal(left.body['reason'], 'kicked');
  await sleep(1000);
  const f1 = a.frames;
  await sleep(2000);
  t.equal(a.frames, f1, `viewer-a receives nothing after the kick (${f1} frames)`);
  t.match((await fleet.send(DEVICE, 'status')) as Record<string, unknown>, { viewers: 0, state: 'ready' });

  // The freed slot takes a new viewer.
  const c = await KvsViewer.connect(info, 'viewer-c');
  viewers.push(c);
  const gotC = await c.waitForFrames(15, 30_000);
  t.ok(gotC.frames >= 15, `viewer-c gets frames after the kick (${gotC.frames})`);

  // set-config over MQTT: applied live and written; one that cannot apply is rolled back.
  const applied = (await fleet.send(DEVICE, 'set-config', { patch: { video: { bitrate: { startKbps: 800 } } } })) as { config: { video: { bitrate: { startKbps: number } } } };
  t.equal(applied.config.video.bitrate.startKbps, 800, 'set-config accepted');
  t.match(JSON.parse(readFileSync(config, 'utf8')), { video: { bitrate: { startKbps: 800 } } }, 'and written to the file');
  await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/events` && m.body['type'] === 'config-applied');
  const rejected = await fleet.send(DEVICE, 'set-config', { patch: { video: { source: 'usb' } } }).then(
    () => undefined,
    (e: { code?: string; message?: string }) => e,
  );
  t.equal(rejected?.code, 'ERR_CONFIG_APPLY_FAILED', `unsupported source rolled back: ${rejected?.message ?? 'accepted?!'}`);
  await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/events` && m.body['type'] === 'config-rolled-back');
  t.equal((JSON.parse(readFileSync(config, 'utf8')) as { video: { source?: unknown } }).video.source, undefined, 'the file keeps the running version');
  const fc = c.frames;
  await sleep(1500);
  t.ok(c.frames > fc, 'viewer-c still receives video after the rollback');

  // SIGTERM: exits 0 within a bound, viewers closed, retained status offline.
  const t0 = Date.now();
  dev.proc.kill('SIGTERM');
  const exit = await Promise.race([dev.exit, sleep(15_000).then(() => undefined)]);
  t.ok(exit, `exited within 15 s (${Date.now() - t0} ms)`);
  t.equal(exit?.code, 0, 'exit code 0');
  await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/events` && m.body['type'] === 'viewer-left' && m.body['clientId'] === 'viewer-c', 5000);
  const off = await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/status` && m.body['state'] === 'offline', 5000);
  t.equal(off.body['online'], false, 'status offline');
  // A fresh subscriber sees the retained offline status.
  const late = await Watcher.open(broker.url, [`kvs-edge/${DEVICE}/status`]);
  const retained = await late.waitFor((m) => m.retain, 5000);
  await late.close();
  t.equal(retained.body['state'], 'offline', 'the retained status is offline');
  t.ok(notes.some((n) => /STOPPING=1/.test(n)), 'STOPPING=1 sent to systemd');
  const logs = dev.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(logs.some((l) => l['msg'] === 'viewer answered' && l['viewer'] === 'viewer-a'), 'structured JSON logs name the viewer');
});
