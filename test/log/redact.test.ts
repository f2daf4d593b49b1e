// Structural redaction (ts/log/redact.ts): each rule on its own, then through the logger at
// trace in both formats. The secrets are easy to grep; none may survive.
import t from 'tap';
import { Logger } from '../../ts/log/logger.js';
import { REDACTED, SecretValues, isSecretName, redact, redactText, secretValues } from '../../ts/log/redact.js';
import { presignSignalingUrl } from '../../ts/kvs/presign.js';
import { defaultConfig, redactConfig, validateConfig } from '../../ts/config/load.js';
import { KEY_ID, MQTT_PASSWORD, SECRET, TOKEN, TURN_CREDENTIAL, leaks as leaksOf } from '../security/fixtures/secrets.js';

const TURN_USER = '1767225600:TuRnUsEr-cam.viewer';
const ALL = [KEY_ID, SECRET, TOKEN, MQTT_PASSWORD, TURN_USER, TURN_CREDENTIAL];
const leaks = (text: string): string[] => leaksOf(text, ALL);

t.test('secret field names, in any spelling', async (t) => {
  for (const n of ['secretAccessKey', 'sessionToken', 'accessKeyId', 'password', 'credential', 'Password', 'X-Amz-Security-Token', 'X-Amz-Signature', 'X-Amz-Credential', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'KVS_EDGE_MQTT_PASSWORD', 'authorization', 'turnPassword', 'privateKey', 'token', 'secret']) {
    t.ok(isSecretName(n), n);
  }
  for (const n of ['keyFile', 'certFile', 'caFile', 'username', 'url', 'urls', 'channel', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-ChannelARN', 'tokens', 'bitrateKbps', 'clientId', 'requestId', 'deviceId']) {
    t.notOk(isSecretName(n), n);
  }
});

t.test('a presigned signaling URL keeps its shape but loses its SigV4 secrets', async (t) => {
  const url = await presignSignalingUrl({
    endpoint: 'wss://v-1234.kinesisvideo.us-west-2.amazonaws.com',
    region: 'us-west-2',
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN },
    channelArn: 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/cam/1',
    signingDate: new Date('2026-12-03T10:00:00Z'),
  });
  t.match(url, /X-Amz-Security-Token=/, 'the URL carries the token');
  const r = redactText(`connecting to ${url}`);
  t.same(leaks(r), [], r);
  t.match(r, /X-Amz-Credential=\(redacted\)/);
  t.match(r, /X-Amz-Signature=\(redacted\)/);
  t.match(r, /X-Amz-Security-Token=\(redacted\)/);
  t.match(r, /X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo/, 'what is not secret stays readable');
  t.match(r, /X-Amz-Date=20261203T100000Z/);
});

t.test('URL passwords, authorization headers, key ids in free text', async (t) => {
  t.equal(redactText(`mqtt://cam:${MQTT_PASSWORD}@broker:1883`), `mqtt://cam:${REDACTED}@broker:1883`);
  t.equal(redactText('mqtts://broker.example:8883'), 'mqtts://broker.example:8883', 'no user info: unchanged');
  const auth = `AWS4-HMAC-SHA256 Credential=${KEY_ID}/20261203/us-west-2/kinesisvideo/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd`;
  const r = redactText(auth);
  t.same(leaks(r), []);
  t.match(r, /SignedHeaders=host;x-amz-date/);
  t.notMatch(r, /0123abcd/);
  t.equal(redactText(`The key ${KEY_ID} is not valid`), `The key ${REDACTED} is not valid`);
  t.equal(redactText('https://x/?password=hunter2&fps=30'), `https://x/?password=${REDACTED}&fps=30`);
});

t.test('objects: secret fields, the username beside them, nested, arrays, errors, cycles', async (t) => {
  const input: Record<string, unknown> = {
    credentials: { source: 'static', accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN },
    mqtt: { url: `mqtt://cam:${MQTT_PASSWORD}@127.0.0.1:1883`, username: 'cam', password: MQTT_PASSWORD, keyFile: '/etc/kvs-edge/mqtt.key' },
    iceServers: [
      { urls: ['turn:127.0.0.1:3478?transport=udp'], username: TURN_USER, credential: TURN_CREDENTIAL },
      { urls: ['stun:127.0.0.1:3478'] },
    ],
    kvs: { IceServerList: [{ Uris: ['turn:1.2.3.4:443'], Username: TURN_USER, Password: TURN_CREDENTIAL, Ttl: 300 }] },
    headers: { authorization: 'AWS4-HMAC-SHA256 ...', 'x-amz-security-token': TOKEN, host: 'h' },
    error: Object.assign(new Error(`refused: ${KEY_ID}`), { code: 'ERR_AUTH' }),
    env: { AWS_SECRET_ACCESS_KEY: SECRET, KVS_EDGE_MQTT_PASSWORD: MQTT_PASSWORD, HOME: '/var/lib/kvs-edge' },
    plainUser: { username: 'alice' },
  };
  input['self'] = input;
  const out = redact(input) as Record<string, Record<string, unknown>>;
  const text = JSON.stringify(out);
  t.same(leaks(text), [], text);
  t.equal(out['credentials']?.['source'], 'static');
  t.equal(out['mqtt']?.['keyFile'], '/etc/kvs-edge/mqtt.key', 'file paths are not secrets');
  t.equal(out['mqtt']?.['username'], REDACTED, 'a username beside a password is redacted');
  t.same(out['plainUser'], { username: 'alice' }, 'a username alone is not');
  t.same((out['iceServers'] as unknown as unknown[])[1], { urls: ['stun:127.0.0.1:3478'] });
  t.same(out['error'], { name: 'Error', message: `refused: ${REDACTED}`, code: 'ERR_AUTH' });
  t.equal(out['env']?.['HOME'], '/var/lib/kvs-edge');
  t.equal(out['self'], '[circular]');
  t.equal(input['credentials'] && (input['credentials'] as Record<string, unknown>)['secretAccessKey'], SECRET, 'the input is not changed');
});

t.test('redactConfig: the configuration as get-config shows it', async (t) => {
  const c = validateConfig({
    credentials: { source: 'static', accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN },
    mqtt: { enabled: true, url: 'mqtt://127.0.0.1:1883', username: 'cam', password: MQTT_PASSWORD },
    ice: { servers: [{ urls: 'turn:127.0.0.1:3478', username: TURN_USER, credential: TURN_CREDENTIAL }] },
  });
  const shown = redactConfig(c);
  t.same(leaks(JSON.stringify(shown)), []);
  t.match(shown, { credentials: { source: 'static', secretAccessKey: REDACTED }, ice: { servers: [{ urls: 'turn:127.0.0.1:3478', credential: REDACTED }] } });
  t.same(redactConfig(defaultConfig({})), JSON.parse(JSON.stringify(defaultConfig({}))), 'a configuration without secrets is shown as it is');
});

for (const format of ['json', 'pretty'] as const) {
  t.test(`the logger redacts every line at trace (${format})`, async (t) => {
    const lines: string[] = [];
    const log = new Logger({ level: 'trace', format, sink: { write: (s: string) => lines.push(s) }, fields: { deviceId: 'cam' } });
    // What the runtime does at start: the configuration's secret values are scrubbed from any
    // text, also where no rule would find them (an error message that quotes one).
    log.addSecrets(secretValues({ mqtt: { password: MQTT_PASSWORD }, credentials: { sessionToken: TOKEN }, short: { password: 'abc' } }));
    const child = log.child({ module: 'kvs', credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET } });
    child.trace(`signaling url wss://h/?X-Amz-Credential=${KEY_ID}%2F20261203&X-Amz-Security-Token=${encodeURIComponent(TOKEN)}&X-Amz-Signature=ab12`);
    child.debug('ice servers', { servers: [{ urls: ['turn:h:3478'], username: TURN_USER, credential: TURN_CREDENTIAL }] });
    child.info('mqtt', { url: `mqtt://cam:${MQTT_PASSWORD}@h`, password: MQTT_PASSWORD });
    child.error('failed', { error: new Error(`token ${TOKEN} refused`), sessionToken: TOKEN });
    child.warn(`broker said: bad password "${MQTT_PASSWORD}"`);
    t.equal(lines.length, 5, 'five lines written');
    const all = lines.join('');
    t.same(leaks(all), [], all);
    t.match(all, /turn:h:3478/, 'the rest of each line is there');
    t.match(all, /X-Amz-Security-Token=\(redacted\)/);
  });
}

t.test('known secret values: scrubbed as they are, URL-encoded and JSON-escaped; short ones ignored', async (t) => {
  const v = new SecretValues(['ab/c+d=e"f', 'tiny']);
  t.equal(v.scrub('x ab/c+d=e"f y'), `x ${REDACTED} y`);
  t.equal(v.scrub(`x ${encodeURIComponent('ab/c+d=e"f')} y`), `x ${REDACTED} y`);
  t.equal(v.scrub(JSON.stringify({ m: 'ab/c+d=e"f' })), JSON.stringify({ m: REDACTED }));
  t.equal(v.scrub('a tiny word'), 'a tiny word');
  t.same(secretValues({ a: { password: 'p1234567' }, b: [{ credential: 'c1234567', urls: 'turn:x' }], keyFile: '/k' }), ['p1234567', 'c1234567']);
});

t.test('a configuration error names the bad secret field without printing it', async (t) => {
  let message = '';
  try {
    validateConfig({
      credentials: { source: 'static', accessKeyId: 'AKIASECRETTEST', secretAccessKey: 12345678 },
      mqtt: { url: `mqtt://cam:${MQTT_PASSWORD}@broker:1883:x`, password: 42 },
    });
  } catch (e) {
    message = (e as Error).message;
  }
  t.match(message, /credentials\.accessKeyId: got a string of 14 characters \(a secret: not shown\); allowed: a string of at least 16 characters/);
  t.match(message, /credentials\.secretAccessKey: got a number \(a secret: not shown\)/);
  t.match(message, /mqtt\.password: got a number \(a secret: not shown\)/);
  t.match(message, /mqtt\.url: got "mqtt:\/\/cam:\(redacted\)@broker/);
  t.notMatch(message, /AKIASECRETTEST|12345678|42|MqTtPaSsWoRd/);
});
