// The CLI run as a user runs it: a child process, its exit code, stdout and stderr.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigStore } from '../../ts/config/config-store.js';
import { RemoteControl } from '../../ts/remote/remote-control.js';
import { startBroker } from '../remote/fixtures/broker.js';
import { MemoryController } from '../remote/fixtures/memory-controller.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repo, 'bin', 'kvs-edge.js');
const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env['PATH'], ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

function noStack(t: { notMatch(a: string, b: RegExp, m: string): void }, r: Run): void {
  t.notMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
}

t.before(() => {
  if (!existsSync(join(repo, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is not built: run `npx tsc -p tsconfig.json` (npm test does it in scripts/setup)');
});

t.test('help and usage errors', async (t) => {
  const none = await cli([]);
  t.equal(none.code, 2, 'no command: usage error');
  t.match(none.stderr, /Usage: kvs-edge <command>/);
  const help = await cli(['--help']);
  t.equal(help.code, 0);
  for (const c of ['run', 'local', 'view', 'probe', 'config', 'send', 'demo']) t.match(help.stdout, new RegExp(`^  ${c}\\s`, 'm'), `lists ${c}`);
  for (const c of ['run', 'local', 'view', 'demo', 'probe', 'config', 'send']) {
    const r = await cli([c, '--help']);
    t.equal(r.code, 0, `${c} --help exits 0`);
    t.match(r.stdout, new RegExp(`kvs-edge ${c}`), `${c} --help describes it`);
  }
  const unknown = await cli(['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
  const badOpt = await cli(['probe', '--bogus']);
  t.equal(badOpt.code, 2);
  t.match(badOpt.stderr, /kvs-edge probe: Unknown option '--bogus'/);
  noStack(t, badOpt);
});

t.test('view: usage errors exit 2 without a stack', async (t) => {
  const r = await cli(['view']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--channel is required/);
  const d = await cli(['view', '--channel', 'x', '--duration', 'soon']);
  t.equal(d.code, 2);
  t.match(d.stderr, /--duration needs seconds/);
  noStack(t, d);
});

t.test('demo refuses a bad option with a usage error', async (t) => {
  const r = await cli(['demo', '--port', 'abc']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--port needs a positive integer, got "abc"/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('config validate and config schema', async (t) => {
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'deviceId: cam-9\nvideo:\n  encoder: openh264\n');
  const ok = await cli(['config', 'validate', good]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /good\.yaml: valid \(device cam-9, channel kvs-edge-channel, encoder openh264, 1280x720@30, mqtt off\)/);
  const printed = await cli(['config', 'validate', good, '--print'], { KVS_EDGE_MQTT_PASSWORD: 'hunter2' });
  t.equal(printed.code, 0);
  const eff = JSON.parse(printed.stdout) as { deviceId: string; mqtt: { password: string } };
  t.equal(eff.deviceId, 'cam-9');
  t.equal(eff.mqtt.password, '(redacted)', 'secret from the environment is not printed');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ video: { encoder: 'x264', fps: 0 }, viewrs: {} }));
  const r = await cli(['config', 'validate', bad]);
  t.equal(r.code, 2, 'invalid config: exit 2');
  t.match(r.stderr, /video\.encoder: got "x264"; allowed: one of "auto", "v4l2m2m", "openh264", "passthrough"/);
  t.match(r.stderr, /video\.fps: got 0; allowed: a number >= 1/);
  t.match(r.stderr, /viewrs: unknown field/);
  noStack(t, r);
  const env = await cli(['config', 'validate', good], { KVS_EDGE_REGION: 'Mars' });
  t.equal(env.code, 2);
  t.match(env.stderr, /region \(from KVS_EDGE_REGION\): got "Mars"/);
  const board = join(dir, 'board.yaml');
  writeFileSync(board, 'board: rpi-9\n');
  const rb = await cli(['config', 'validate', board]);
  t.equal(rb.code, 2, 'unknown board profile: configuration error');
  t.match(rb.stderr, /board "rpi-9" is not a known profile; known: .*rpi-5/);
  const missing = await cli(['config', 'validate', join(dir, 'nope.json')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.json does not exist/);
  t.equal((await cli(['config', 'validate'])).code, 2, 'missing FILE: usage');
  t.equal((await cli(['config', 'frob'])).code, 2, 'unknown subcommand: usage');

  const out = join(dir, 'kvs-edge.schema.json');
  const s = await cli(['config', 'schema', '--out', out]);
  t.equal(s.code, 0);
  const schema = JSON.parse(readFileSync(out, 'utf8')) as { $schema: string; properties: Record<string, unknown> };
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.ok(schema.properties['mqtt'] && schema.properties['video'], 'describes mqtt and video');
  const stdout = await cli(['config', 'schema']);
  t.same(JSON.parse(stdout.stdout), schema, 'stdout and file agree');
  const unwritable = await cli(['config', 'schema', '--out', join(dir, 'no', 'such', 'dir', 's.json')]);
  t.equal(unwritable.code, 1, 'cannot write: runtime failure');
  t.match(unwritable.stderr, /cannot write .*ENOENT/);
});

t.test('probe prints JSON for a fake Jetson', async (t) => {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'proc', 'device-tree'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'dev'), { recursive: true });
  writeFileSync(join(root, 'proc', 'device-tree', 'model'), 'NVIDIA Jetson Xavier NX Developer Kit\0');
  writeFileSync(join(root, 'etc', 'nv_tegra_release'), '# R35 (release), REVISION: 4.1\n');
  writeFileSync(join(root, 'dev', 'nvhost-msenc'), '');
  const r = await cli(['probe', '--root', root, '--arch', 'aarch64']);
  t.equal(r.code, 0);
  const rep = JSON.parse(r.stdout) as Record<string, unknown>;
  t.match(rep, {
    board: { id: 'jetson-xavier-nx' },
    detection: { model: 'NVIDIA Jetson Xavier NX Developer Kit', tegraRelease: '# R35 (release), REVISION: 4.1', arch: 'aarch64' },
    encoders: [{ device: '/dev/nvhost-msenc', exists: true, opened: false, usable: false, detail: /not a character device/ }],
    auto: { encoder: 'openh264' },
  });
  const bad = await cli(['probe', '--board', 'rpi-99']);
  t.equal(bad.code, 2, 'unknown board: configuration error');
  t.match(bad.stderr, /board "rpi-99" is not a known profile; known: .*rpi-4/);
});

t.test('send talks to a device through a real broker', async (t) => {
  const broker = await startBroker();
  const store = new ConfigStore(join(dir, 'dev.json'), { allowMissing: true, env: {} });
  store.save({ deviceId: 'cli-dev', mqtt: { enabled: true, url: broker.url } });
  const controller = new MemoryController(store);
  const remote = new RemoteControl({ deviceId: 'cli-dev', mqtt: store.config.mqtt, controller });
  await remote.start(15_000);
  t.teardown(async () => {
    await remote.stop();
    await broker.stop();
  });
  const url = ['--url', broker.url];
  const ping = await cli(['send', 'cli-dev', 'ping', ...url]);
  t.equal(ping.code, 0);
  t.match(JSON.parse(ping.stdout), { pong: true });
  const br = await cli(['send', 'cli-dev', 'set-bitrate', '{"kbps": 700}', ...url, '--mqtt-version', '3.1.1']);
  t.equal(br.code, 0, 'MQTT 3.1.1 works too');
  t.same(JSON.parse(br.stdout), { kbps: 700 });
  t.equal(controller.bitrateKbps, 700, 'device changed its bitrate');
  const envUrl = await cli(['send', 'cli-dev', 'status'], { KVS_EDGE_MQTT_URL: broker.url });
  t.equal(envUrl.code, 0, 'broker from KVS_EDGE_MQTT_URL');
  const rej = await cli(['send', 'cli-dev', 'reboot', ...url]);
  t.equal(rej.code, 1, 'rejected: exit 1');
  t.match(rej.stderr, /cli-dev rejected reboot: ERR_DISABLED: reboot is disabled/);
  noStack(t, rej);
  const badArgs = await cli(['send', 'cli-dev', 'set-bitrate', '{"kbps": "lots"}', ...url]);
  t.equal(badArgs.code, 2, 'bad args caught before sending');
  t.match(badArgs.stderr, /args\.kbps: got "lots"/);
  const badJson = await cli(['send', 'cli-dev', 'set-bitrate', '{kbps:1}', ...url]);
  t.equal(badJson.code, 2);
  t.match(badJson.stderr, /arguments are not valid JSON/);
  const unknownCmd = await cli(['send', 'cli-dev', 'explode', ...url]);
  t.equal(unknownCmd.code, 2);
  t.match(unknownCmd.stderr, /unknown command "explode"; known: ping/);
  const timeout = await cli(['send', 'nobody-home', 'ping', ...url, '--timeout', '1']);
  t.equal(timeout.code, 1, 'no answer: exit 1');
  t.match(timeout.stderr, /ERR_TIMEOUT: no answer from nobody-home to ping within 1000 ms/);
  const down = await cli(['send', 'cli-dev', 'ping', '--url', 'mqtt://127.0.0.1:1', '--timeout', '2']);
  t.equal(down.code, 1, 'broker unreachable: exit 1');
  t.match(down.stderr, /ERR_MQTT_CONNECT: cannot connect to MQTT broker mqtt:\/\/127\.0\.0\.1:1/);
  noStack(t, down);
  t.equal(controller.keyframes + controller.reboots, 0, 'nothing unintended happened on the device');
});
