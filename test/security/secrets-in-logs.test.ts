// No secret reaches the logs, at any level (issue 14, secrets). The real `kvs-edge run`, at
// log level trace (native engine at debug), against:
// - the local KVS service with static keys AKIASECRETTEST000001 / SeCrEt-..., the device adding a
//   session token (the service accepts it with the static key), so the presigned signaling URL
//   carries X-Amz-Credential, X-Amz-Signature and X-Amz-Security-Token;
// - TURN through the local service's coturn (GetIceServerConfig hands out credentials, which the
//   test records as they are issued), plus a static TURN server with its own credential;
// - a real mosquitto that requires a username and password;
// - a real viewer (werift through KVS signaling) that gets video, and MQTT commands
//   (get-config, set-log-level).
// Then none of the secrets appears anywhere in stdout or stderr (as is, URL-encoded or
// JSON-escaped), and the run did log at trace: the presigned URL, the ICE servers and the
// configuration were written, redacted (so the check can fail).
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { CoturnServer, startLocalService, type LocalKvsService, type TurnCredentials } from '../../ts/local/index.js';
import { FleetClient } from '../../ts/remote/fleet-client.js';
import { freePort } from '../remote/fixtures/broker.js';
import { waitFor } from '../kvs/helpers.js';
import { KvsViewer, type ServiceInfo } from '../runtime/fixtures/kvs-viewer.js';
import { bin, repo, startDevice, writeDeviceConfig } from './fixtures/device.js';
import { KEY_ID, MQTT_PASSWORD, SECRET, TOKEN, TURN_CREDENTIAL, forms, leaks } from './fixtures/secrets.js';

const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
const missing = [
  [existsSync(join(repo, 'build', 'Release', 'kvs_edge.node')), 'build/Release/kvs_edge.node'],
  [existsSync(join(repo, 'dist', 'cli', 'main.js')), 'dist/ (npx tsc -p tsconfig.json)'],
  [existsSync(MOSQUITTO) && existsSync(MOSQUITTO_PASSWD), `${MOSQUITTO} and ${MOSQUITTO_PASSWD} (Debian mosquitto)`],
  [CoturnServer.available(), 'coturn (turnserver)'],
].filter(([ok]) => !ok).map(([, what]) => what);
const SKIP = missing.length > 0 && `needs ${missing.join(', ')}`;

const MQTT_USER = 'kvs-cam-sec';
const STATIC_TURN_CREDENTIAL = TURN_CREDENTIAL;
const CHANNEL = 'sec-cam';
const DEVICE = 'sec-dev'; // writeDeviceConfig's deviceId


/** mosquitto on a free loopback port that accepts only MQTT_USER / MQTT_PASSWORD. */
async function passwordBroker(t: Test, dir: string): Promise<string> {
  const pw = join(dir, 'mosquitto.passwd');
  const made = spawnSync(MOSQUITTO_PASSWD, ['-b', '-c', pw, MQTT_USER, MQTT_PASSWORD], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`mosquitto_passwd: ${made.stderr}`);
  chmodSync(pw, 0o600);
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  // As root, mosquitto would drop to its own user, which cannot read a password file in our
  // private temp directory: it stays the user that runs the test.
  writeFileSync(conf, [`user ${userInfo().username}`, `listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${pw}`, 'persistence false', 'log_dest none', ''].join('\n'));
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  const kill = (): void => void proc.kill('SIGKILL');
  process.once('exit', kill);
  t.teardown(async () => {
    process.off('exit', kill);
    if (proc.exitCode === null && proc.signalCode === null) {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    }
  });
  const url = `mqtt://127.0.0.1:${port}`;
  const listening = async (): Promise<boolean> =>
    new Promise((r) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
  for (let i = 0; i < 200 && !(await listening()); i++) await new Promise((r) => setTimeout(r, 50));
  // Anonymous clients are refused: the device can only be in with its password.
  const anonymous = await FleetClient.connect({ url, connectTimeoutMs: 3000 }).then(
    async (c) => (await c.close(), 'accepted'),
    (e: Error) => e.message,
  );
  if (!/not authori[sz]ed|bad user ?name or password/i.test(anonymous)) throw new Error(`mosquitto should refuse anonymous clients; got: ${anonymous}`);
  return url;
}

t.test('kvs-edge run at trace: no secret in any output line', { skip: SKIP, timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-secrets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const mqttUrl = await passwordBroker(t, dir);

  const svc: LocalKvsService = await startLocalService({
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    turn: true,
    channels: [CHANNEL],
    closeGraceMs: 50,
  });
  t.teardown(() => svc.close());
  // Record every TURN credential the service hands out (the real ones, unchanged).
  const issued: TurnCredentials[] = [];
  const coturn = (svc as unknown as { coturn: CoturnServer }).coturn;
  const credentials = coturn.credentials.bind(coturn);
  coturn.credentials = (...a: Parameters<CoturnServer['credentials']>) => {
    const c = credentials(...a);
    issued.push(c);
    return c;
  };
  const turnUrl = coturn.credentials('probe', 60).uris[0] ?? '';
  issued.length = 0;

  const config = join(dir, 'device.json');
  writeDeviceConfig(config, svc, CHANNEL, {
    credentials: { source: 'static', accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN },
    ice: { servers: [{ urls: turnUrl, username: 'static-turn-user', credential: STATIC_TURN_CREDENTIAL }] },
    mqtt: { enabled: true, url: mqttUrl, username: MQTT_USER, password: MQTT_PASSWORD, telemetryIntervalSec: 1 },
    logging: { level: 'trace', format: 'json' },
  });

  const dev = startDevice(t, [process.execPath, bin, 'run', '--config', config], { env: { KVS_EDGE_NATIVE_LOG: 'debug' } });
  await dev.started();
  const stderr = dev.output;

  // The fleet, with the broker's password, reaches the device (so did the device, with its own).
  const fleet = await FleetClient.connect({ url: mqttUrl, username: MQTT_USER, password: MQTT_PASSWORD });
  t.teardown(() => fleet.close());
  let status: unknown;
  for (let i = 0; i < 30 && status === undefined; i++) {
    status = await fleet.send(DEVICE, 'status', {}, { timeoutMs: 2000 }).catch(() => undefined);
  }
  t.match(status, { channel: CHANNEL }, 'the device answers over MQTT (it logged in with its password)');

  // A viewer: GetIceServerConfig hands TURN credentials to the device, signaling carries SDP.
  const info: ServiceInfo = { endpoint: svc.endpoint, region: svc.region, credentials: svc.credentials, channel: CHANNEL };
  const viewer = await KvsViewer.connect(info, 'viewer-sec');
  t.teardown(() => viewer.close());
  const got = await viewer.waitForFrames(10, 60_000);
  t.ok(got.frames >= 10, `the viewer received ${got.frames} frames`);

  const shown = JSON.stringify(await fleet.send(DEVICE, 'get-config'));
  t.same(leaks(shown, [SECRET, TOKEN, MQTT_PASSWORD, STATIC_TURN_CREDENTIAL, KEY_ID]), [], 'get-config shows no secret');
  t.same(await fleet.send(DEVICE, 'set-log-level', { level: 'trace' }), { level: 'trace' }, 'set-log-level trace (native engine at debug)');
  const f0 = viewer.frames;
  t.ok(await waitFor(() => viewer.frames > f0 + 5, 20_000), 'frames keep coming after set-log-level');
  await viewer.close();

  dev.proc.kill('SIGTERM');
  t.equal(await dev.closed, 0, 'SIGTERM: exit 0');
  const lines = dev.output().split('\n').filter(Boolean);

  // The run logged at trace, and the lines that would carry secrets were written (redacted).
  const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const traced = json.filter((l) => l['level'] === 'trace');
  t.ok(traced.length >= 5, `${traced.length} trace lines out of ${lines.length}`);
  const connecting = traced.find((l) => l['msg'] === 'signaling connecting');
  t.match(connecting?.['url'], /X-Amz-Credential=\(redacted\).*X-Amz-Security-Token=\(redacted\).*X-Amz-Signature=\(redacted\)|X-Amz-Signature=\(redacted\)/, 'the presigned signaling URL was logged, redacted');
  t.match(connecting?.['url'], /X-Amz-Security-Token=\(redacted\)/);
  t.match(connecting?.['url'], /X-Amz-Credential=\(redacted\)/);
  const ice = traced.find((l) => l['msg'] === 'ice servers');
  t.match(ice, { servers: [{ urls: [/^turn:/], username: '(redacted)', credential: '(redacted)' }] }, 'the ICE servers (TURN from GetIceServerConfig) were logged, redacted');
  const cfg = traced.find((l) => l['msg'] === 'configuration');
  t.match(cfg, { config: { credentials: { secretAccessKey: '(redacted)', sessionToken: '(redacted)' }, mqtt: { password: '(redacted)' } } }, 'the configuration was logged, redacted');
  t.ok(traced.some((l) => l['msg'] === 'signaling message'), 'signaling messages were traced');
  t.ok(lines.some((l) => l.startsWith('[kvs-edge] DEBUG')), 'the native engine logged at debug');

  // The secrets, and every TURN credential the service issued to anyone.
  t.ok(issued.length >= 1, `${issued.length} TURN credentials were issued during the run`);
  const secrets: Record<string, string> = {
    'access key id': KEY_ID,
    'secret access key': SECRET,
    'session token': TOKEN,
    'MQTT password': MQTT_PASSWORD,
    'static TURN credential': STATIC_TURN_CREDENTIAL,
  };
  issued.forEach((c, i) => {
    secrets[`issued TURN password ${i}`] = c.password;
    secrets[`issued TURN username ${i}`] = c.username;
  });
  for (const [what, value] of Object.entries(secrets)) {
    const hits = lines.filter((l) => forms(value).some((f) => l.includes(f)));
    t.same(hits, [], `${what} appears in no line`);
  }
});

// The same with credentials from the AWS IoT credentials provider (mutual TLS with the device's
// certificate): the temporary keys and session tokens it hands out, and the device's private
// key, appear in no line either.
t.test('kvs-edge run at trace with IoT credentials: no temporary key, token or private key in any line', { skip: SKIP, timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-secrets-iot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const svc: LocalKvsService = await startLocalService({ turn: true, channels: [CHANNEL], closeGraceMs: 50, iot: { roleAliases: ['cam-role'], credentialTtlSec: 900 } });
  t.teardown(() => svc.close());
  const issued: Array<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }> = [];
  const issue = svc.issueTemporaryCredentials.bind(svc);
  svc.issueTemporaryCredentials = (ttl: number) => {
    const c = issue(ttl);
    issued.push(c);
    return c;
  };
  const pem = svc.issueDeviceCertificate('sec-thing');
  const files = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), caFile: join(dir, 'ca.pem') };
  writeFileSync(files.certFile, pem.cert);
  writeFileSync(files.keyFile, pem.key, { mode: 0o600 });
  writeFileSync(files.caFile, pem.ca);
  const config = join(dir, 'device.json');
  writeDeviceConfig(config, svc, CHANNEL, {
    credentials: { source: 'iot', endpoint: svc.iotEndpoint, roleAlias: 'cam-role', thingName: 'sec-thing', ...files },
    logging: { level: 'trace', format: 'json' },
  });
  const dev = startDevice(t, [process.execPath, bin, 'run', '--config', config], { env: { KVS_EDGE_NATIVE_LOG: 'debug' } });
  await dev.started();

  const viewer = await KvsViewer.connect({ endpoint: svc.endpoint, region: svc.region, credentials: svc.credentials, channel: CHANNEL }, 'viewer-iot');
  t.teardown(() => viewer.close());
  const got = await viewer.waitForFrames(10, 60_000);
  t.ok(got.frames >= 10, `the viewer received ${got.frames} frames (the device signs with IoT credentials)`);
  await viewer.close();
  dev.proc.kill('SIGTERM');
  t.equal(await dev.closed, 0, 'SIGTERM: exit 0');

  const lines = dev.output().split('\n').filter(Boolean);
  t.ok(issued.length >= 1, `${issued.length} temporary credentials issued by the IoT endpoint`);
  const connecting = lines.find((l) => l.includes('"msg":"signaling connecting"')) ?? '';
  t.match(connecting, /X-Amz-Security-Token=\(redacted\)/, 'the presigned URL carried a session token, redacted');
  const keyBody = pem.key.split('\n').filter((l) => l && !l.startsWith('-----'));
  const secrets: Record<string, string> = { 'private key (a line of it)': keyBody[1] ?? keyBody[0] ?? '' };
  issued.forEach((c, i) => {
    secrets[`temporary access key id ${i}`] = c.accessKeyId;
    secrets[`temporary secret key ${i}`] = c.secretAccessKey;
    secrets[`session token ${i}`] = c.sessionToken;
  });
  for (const [what, value] of Object.entries(secrets)) {
    t.ok(value.length >= 16, `${what} is a real value`);
    t.same(lines.filter((l) => forms(value).some((f) => l.includes(f))), [], `${what} appears in no line`);
  }
});
