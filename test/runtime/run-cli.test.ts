// `kvs-edge run` as a user types it: usage and configuration errors (exit 2, one line, no
// stack), --local (an embedded local KVS service whose endpoint it prints; a viewer gets
// frames through it), SIGINT -> exit 0.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvsViewer } from './fixtures/kvs-viewer.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repo, 'bin', 'kvs-edge.js');
const built = existsSync(join(repo, 'dist', 'cli', 'main.js'));
const addon = existsSync(join(repo, 'build', 'Release', 'kvs_edge.node'));
const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-run-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env['PATH'] }, timeout: 30_000 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

t.test('usage and configuration errors exit 2 with one line', { skip: !built && 'dist/ not built' }, async (t) => {
  const none = await cli(['run']);
  t.equal(none.code, 2);
  t.match(none.stderr, /--config FILE is required/);
  const missing = await cli(['run', '--config', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.yaml does not exist/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ viewers: { max: 50 } }));
  const invalid = await cli(['run', '--config', bad]);
  t.equal(invalid.code, 2);
  t.match(invalid.stderr, /viewers\.max/);
  const level = await cli(['run', '--config', bad, '--log-level', 'loud']);
  t.equal(level.code, 2);
  t.match(level.stderr, /--log-level must be one of/);
  for (const r of [none, missing, invalid, level]) t.notMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  const help = await cli(['run', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /kvs-edge run --config FILE/);
});

t.test('a camera that is not there: exit 1 (systemd retries: it may be plugged in) naming the device', { skip: (!built || !addon) && 'needs dist/ and the addon' }, async (t) => {
  const file = join(dir, 'v4l2.json');
  writeFileSync(file, JSON.stringify({ video: { source: { type: 'v4l2', device: '/dev/video-kvs-missing' } }, credentials: { source: 'static', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x' } }));
  const r = await cli(['run', '--config', file, '--log-level', 'silent']);
  t.equal(r.code, 1);
  t.match(r.stderr, /ERR_MEDIA: cannot open the video track: VideoTrack: \/dev\/video-kvs-missing: No such file or directory/);
});

t.test('--local: embedded KVS service, a viewer gets frames, SIGINT exits 0', { skip: (!built || !addon) && 'needs dist/ and the addon', timeout: 90_000 }, async (t) => {
  const file = join(dir, 'local.yaml');
  writeFileSync(file, 'channel:\n  name: local-cam\nvideo:\n  width: 320\n  height: 240\nlogging:\n  format: json\n');
  const proc = spawn(process.execPath, [bin, 'run', '--config', file, '--local'], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const end = Date.now() + 20_000;
  while (!out.includes('\n') || !err.includes('"device started"')) {
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`no start: stdout ${out} stderr ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const line = JSON.parse(out.split('\n')[0] ?? '') as { local: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string }; channel: string } };
  t.equal(line.local.channel, 'local-cam');
  t.match(line.local.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  const v = await KvsViewer.connect(line.local, 'local-viewer');
  t.teardown(() => v.close());
  const s = await v.waitForFrames(20, 30_000);
  t.equal(s.width, 320, `viewer got ${s.frames} frames of 320x240 through the embedded service`);
  proc.kill('SIGINT');
  const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
  t.equal(code, 0, 'SIGINT: exit 0');
  t.match(err, /"msg":"stopped"/);
});

t.test('SIGKILL: the broker publishes the last will, the retained status turns offline', { skip: (!built || !addon || !existsSync('/usr/sbin/mosquitto')) && 'needs dist/, the addon and mosquitto', timeout: 90_000 }, async (t) => {
  const { startBroker } = await import('../remote/fixtures/broker.js');
  const { Watcher } = await import('../remote/fixtures/watcher.js');
  const broker = await startBroker();
  t.teardown(() => broker.stop());
  // The KVS service lives in this process (not --local): a SIGKILLed parent cannot stop coturn.
  const { startLocalService } = await import('../../ts/local/index.js');
  const svc = await startLocalService({ turn: false, channels: ['will-cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const file = join(dir, 'will.json');
  writeFileSync(
    file,
    JSON.stringify({
      deviceId: 'will-dev',
      region: svc.region,
      endpoints: { controlPlane: svc.endpoint },
      credentials: { source: 'static', ...svc.credentials },
      channel: { name: 'will-cam' },
      mqtt: { enabled: true, url: broker.url, keepaliveSec: 5 },
      logging: { format: 'json' },
    }),
  );
  const proc = spawn(process.execPath, [bin, 'run', '--config', file], { env: { PATH: process.env['PATH'] }, stdio: 'ignore' });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const watch = await Watcher.open(broker.url, ['kvs-edge/will-dev/status']);
  t.teardown(() => watch.close());
  await watch.waitFor((m) => m.body['online'] === true && m.body['state'] === 'ready', 30_000);
  t.pass('online, ready');
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
  const off = await watch.waitFor((m) => m.body['state'] === 'offline', 30_000);
  t.equal(off.body['online'], false, 'the last will set the status offline');
  const late = await Watcher.open(broker.url, ['kvs-edge/will-dev/status']);
  const retained = await late.waitFor((m) => m.retain, 5000);
  await late.close();
  t.equal(retained.body['state'], 'offline', 'retained: offline');
});

t.test('--ca: a local service with its own CA (kvs-edge local --tls) is trusted', { skip: (!built || !addon) && 'needs dist/ and the addon', timeout: 60_000 }, async (t) => {
  const { startLocalService } = await import('../../ts/local/index.js');
  const svc = await startLocalService({ tls: true, turn: false, channels: ['tls-cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, svc.caCert ?? '');
  const file = join(dir, 'tls.json');
  writeFileSync(
    file,
    JSON.stringify({ region: svc.region, endpoints: { controlPlane: svc.endpoint }, credentials: { source: 'static', ...svc.credentials }, channel: { name: 'tls-cam' }, logging: { format: 'json' } }),
  );
  t.match(svc.endpoint, /^https:/);
  const proc = spawn(process.execPath, [bin, 'run', '--config', file, '--ca', caFile], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'ignore', 'pipe'] });
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const end = Date.now() + 20_000;
  while (!/"msg":"device started"[^\n]*"state":"ready"/.test(err)) {
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`not ready: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.pass('signaling open over WSS with the given CA');
  proc.kill('SIGTERM');
  t.equal(await exit, 0);
});
