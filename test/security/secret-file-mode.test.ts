// A configuration file or env file that holds secrets and that its group or others can read gets
// a warning when `kvs-edge run` starts, naming the file and the fix (chmod 600 FILE); files
// without secrets, or with mode 0600, get none. First the check itself, then the real CLI.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envFileSecrets, secretFileWarnings } from '../../ts/config/secret-files.js';
import { ConfigStore } from '../../ts/config/config-store.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repo, 'bin', 'kvs-edge.js');
const SECRET = 'SeCrEt-FiLeMoDe-wJalrXUtnFEMI';
const MQTT_PASSWORD = 'MqTtPaSsWoRd-FiLeMoDe';

const withSecrets = {
  credentials: { source: 'static', accessKeyId: 'AKIASECRETTEST000001', secretAccessKey: SECRET },
  mqtt: { enabled: false, password: MQTT_PASSWORD },
};

function dir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'kvs-edge-modes-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function file(d: string, name: string, text: string, mode: number): string {
  const f = join(d, name);
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

t.test('the check: which files, which modes', async (t) => {
  const d = dir(t);
  const cases: Array<[number, string | undefined]> = [
    [0o600, undefined],
    [0o400, undefined],
    [0o640, 'group'],
    [0o604, 'others'],
    [0o644, 'group and others'],
  ];
  for (const [mode, who] of cases) {
    const f = file(d, `c${mode.toString(8)}.json`, JSON.stringify(withSecrets), mode);
    const w = secretFileWarnings(f, withSecrets, {});
    if (who === undefined) {
      t.same(w, [], `mode 0${mode.toString(8)}: no warning`);
      continue;
    }
    t.equal(w.length, 1, `mode 0${mode.toString(8)}: one warning`);
    t.match(w[0], { file: f, readableBy: who, fix: `chmod 600 ${f}`, holds: ['credentials.accessKeyId', 'credentials.secretAccessKey', 'mqtt.password'] });
    t.match(w[0]?.message, `${f} holds secrets (credentials.accessKeyId, credentials.secretAccessKey, mqtt.password) and can be read by ${who}`);
    t.match(w[0]?.message, `fix: chmod 600 ${f}`);
    t.notMatch(w[0]?.message, SECRET, 'the secret itself is not in the warning');
  }
  const plain = { deviceId: 'cam', credentials: { source: 'environment' }, ice: { servers: [{ urls: 'stun:127.0.0.1:3478' }] } };
  t.same(secretFileWarnings(file(d, 'plain.json', JSON.stringify(plain), 0o644), plain, {}), [], 'a configuration without secrets may be world-readable');
  const turn = { ice: { servers: [{ urls: 'turn:127.0.0.1:3478', username: 'u', credential: 'TuRnCrEdEnTiAl' }] } };
  t.match(secretFileWarnings(file(d, 'turn.yaml', 'x', 0o644), turn, {})[0], { holds: ['ice.servers[0].credential'] }, 'a TURN credential counts');

  const envText = '# ids and secrets\nKVS_EDGE_DEVICE_ID=cam\nAWS_ACCESS_KEY_ID=AKIASECRETTEST000001\nAWS_SECRET_ACCESS_KEY=' + SECRET + '\nexport KVS_EDGE_MQTT_PASSWORD=' + MQTT_PASSWORD + '\nAWS_SESSION_TOKEN=\n';
  t.same(envFileSecrets(envText), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'KVS_EDGE_MQTT_PASSWORD'], 'secret variables with a value');
  const envFile = file(d, 'env', envText, 0o640);
  const w = secretFileWarnings(join(d, 'missing.json'), {}, { KVS_EDGE_ENV_FILE: envFile });
  t.equal(w.length, 1, 'the env file named by KVS_EDGE_ENV_FILE is checked');
  t.match(w[0]?.message, `${envFile} holds secrets (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, KVS_EDGE_MQTT_PASSWORD) and can be read by group (mode 0640); fix: chmod 600 ${envFile}`);
  chmodSync(envFile, 0o600);
  t.same(secretFileWarnings(join(d, 'missing.json'), {}, { KVS_EDGE_ENV_FILE: envFile }), [], 'env file 0600: no warning');
  t.same(secretFileWarnings(join(d, 'missing.json'), {}, { KVS_EDGE_ENV_FILE: file(d, 'env2', 'KVS_EDGE_DEVICE_ID=cam\n', 0o644) }), [], 'an env file with ids only: no warning');
  t.same(secretFileWarnings(join(d, 'missing.json'), {}, { KVS_EDGE_ENV_FILE: join(d, 'nope') }), [], 'no env file: no warning');
});

t.test('a remote change rewrites the configuration with mode 0600, and its copies too', async (t) => {
  const d = dir(t);
  const f = file(d, 'device.json', JSON.stringify(withSecrets), 0o644);
  const store = new ConfigStore(f, { env: {} });
  await store.update({ video: { fps: 20 } }, () => undefined);
  for (const x of [f, `${f}.last-good`]) t.equal((statSync(x).mode & 0o777).toString(8), '600', `${x.slice(d.length + 1)}: 0600`);
  t.same(secretFileWarnings(f, withSecrets, {}), [], 'no warning any more');
});

const BUILT = existsSync(join(repo, 'dist', 'cli', 'main.js')) && existsSync(join(repo, 'build', 'Release', 'kvs_edge.node'));

/** Runs `kvs-edge run` until `until` matches a stderr line (or 30 s), then kills it; returns its output. */
async function runUntil(config: string, env: NodeJS.ProcessEnv, until: RegExp): Promise<{ stderr: string }> {
  const proc = spawn(process.execPath, [bin, 'run', '--config', config], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const seen = new Promise<void>((r) => {
    const take = (d: Buffer): void => {
      out += d.toString('utf8');
      if (until.test(out)) r();
    };
    proc.stdout.on('data', take);
    proc.stderr.on('data', take);
  });
  // 'close': the process is gone and both pipes are read to their end.
  const closed = new Promise<void>((r) => proc.once('close', () => r()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  await Promise.race([seen, closed]);
  // Only what it printed matters here, not a graceful stop.
  proc.kill('SIGKILL');
  await closed;
  clearTimeout(timer);
  return { stderr: out };
}

t.test('kvs-edge run warns at start, naming the file and the fix', { skip: !BUILT && 'needs dist/ and the addon built' }, async (t) => {
  const d = dir(t);
  // A control plane nobody listens on: the device keeps retrying, which is all this needs.
  const doc = { ...withSecrets, deviceId: 'mode-cam', endpoints: { controlPlane: 'http://127.0.0.1:9' }, logging: { level: 'info', format: 'json' } };
  const config = file(d, 'device.json', JSON.stringify(doc), 0o644);
  const envFile = file(d, 'env', `AWS_SECRET_ACCESS_KEY=${SECRET}\n`, 0o604);
  const r = await runUntil(config, { KVS_EDGE_ENV_FILE: envFile }, /board detected/);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('holds secrets')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(warnings.length, 2, `two warnings:\n${r.stderr.split('\n').slice(0, 6).join('\n')}`);
  t.match(warnings[0], { level: 'warn', file: config, mode: '0644', fix: `chmod 600 ${config}`, msg: `${config} holds secrets (credentials.accessKeyId, credentials.secretAccessKey, mqtt.password) and can be read by group and others (mode 0644); fix: chmod 600 ${config}` });
  t.match(warnings[1], { level: 'warn', file: envFile, mode: '0604', fix: `chmod 600 ${envFile}` });
  t.notMatch(r.stderr, SECRET, 'the secret is not in the output');
  t.notMatch(r.stderr, MQTT_PASSWORD);

  chmodSync(config, 0o600);
  chmodSync(envFile, 0o600);
  const quiet = await runUntil(config, { KVS_EDGE_ENV_FILE: envFile }, /board detected/);
  t.match(quiet.stderr, /board detected/, 'the second run got past the check');
  t.notMatch(quiet.stderr, /holds secrets/, 'mode 0600: no warning');
});
