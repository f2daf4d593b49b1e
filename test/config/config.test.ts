// Loading, validating and exporting the configuration.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../ts/config/errors.js';
import { defaultConfig, loadConfigFile, mergePatch, redactConfig, validateConfig } from '../../ts/config/load.js';
import { configJsonSchema, configSchema } from '../../ts/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

t.test('an empty configuration runs with newcomer defaults', async (t) => {
  const c = defaultConfig({});
  t.match(c, {
    deviceId: 'kvs-edge-dev',
    region: 'us-west-2',
    credentials: { source: 'environment' },
    channel: { name: 'kvs-edge-channel', createIfMissing: true },
    video: { source: { type: 'pattern' }, encoder: 'auto', width: 1280, height: 720, fps: 30, bitrate: { minKbps: 150, startKbps: 1500, maxKbps: 4000 } },
    audio: { source: 'none', codec: 'opus' },
    ice: { transportPolicy: 'all' },
    viewers: { max: 10 },
    mqtt: { enabled: false, topicPrefix: 'kvs-edge/{deviceId}', qos: 1, protocol: 'auto' },
    logging: { level: 'info' },
    system: { reboot: { enabled: false } },
  });
});

t.test('JSON and YAML files load the same configuration', async (t) => {
  const j = file('a.json', JSON.stringify({ deviceId: 'cam-1', video: { encoder: 'openh264', fps: 25 } }));
  const y = file('a.yaml', 'deviceId: cam-1\nvideo:\n  encoder: openh264\n  fps: 25\n');
  t.same(loadConfigFile(j, {}).config, loadConfigFile(y, {}).config);
  t.equal(loadConfigFile(y, {}).config.video.fps, 25);
});

t.test('errors name the field, the value and what is allowed', async (t) => {
  const table: { name: string; doc: unknown; expect: RegExp[] }[] = [
    { name: 'enum', doc: { video: { encoder: 'h265' } }, expect: [/video\.encoder: got "h265"; allowed: one of "auto", "v4l2m2m", "openh264", "passthrough"/] },
    { name: 'type', doc: { viewers: { max: '3' } }, expect: [/viewers\.max: got "3"; allowed: a value of type number/] },
    { name: 'range', doc: { viewers: { max: 11 } }, expect: [/viewers\.max: got 11; allowed: a number <= 10/] },
    { name: 'typo', doc: { vidoe: {} }, expect: [/vidoe: unknown field/] },
    { name: 'nested typo', doc: { mqtt: { topicprefix: 'x' } }, expect: [/mqtt\.topicprefix: unknown field/] },
    { name: 'discriminator', doc: { credentials: { source: 'vault' } }, expect: [/credentials\.source: got "vault"; allowed: one of "environment", "static", "profile", "iot"/] },
    { name: 'missing required', doc: { credentials: { source: 'iot', endpoint: 'x', roleAlias: 'r', thingName: 't', certFile: '/c' } }, expect: [/credentials\.keyFile: got nothing \(missing\)/] },
    { name: 'cross-field', doc: { video: { bitrate: { minKbps: 5000 } } }, expect: [/video\.bitrate: .*minKbps <= startKbps <= maxKbps/] },
    { name: 'quantiser bounds crossed', doc: { video: { qpMin: 40, qpMax: 30 } }, expect: [/video\.qpMin: got 40; allowed: at most qpMax \(30\)/] },
    { name: 'quantiser out of range', doc: { video: { qpMax: 60 } }, expect: [/video\.qpMax/] },
    { name: 'url', doc: { mqtt: { url: 'http://broker' } }, expect: [/mqtt\.url: got "http:\/\/broker"; allowed: must be a URL with scheme mqtt/] },
    { name: 'wildcard prefix', doc: { mqtt: { topicPrefix: 'a/+/b' } }, expect: [/mqtt\.topicPrefix: got "a\/\+\/b"; allowed: must not contain MQTT wildcards/] },
    { name: 'qos', doc: { mqtt: { qos: 2 } }, expect: [/mqtt\.qos: got 2; allowed: one of 0, 1/] },
    { name: 'array item', doc: { ice: { servers: [{ urls: 5 }] } }, expect: [/ice\.servers\[0\]\.urls: got 5; allowed: a value of type string or a value of type array/] },
    { name: 'several at once', doc: { deviceId: 'a b', region: 'mars' }, expect: [/deviceId: got "a b"/, /region: got "mars"; allowed: must be an AWS region/] },
    { name: 'not an object', doc: [1, 2], expect: [/\(root\): got an array of 2; allowed: an object/] },
  ];
  for (const row of table) {
    const e = configError(() => validateConfig(row.doc, 'test.json'));
    t.equal(e.code, 'ERR_CONFIG_INVALID', `${row.name}: code`);
    for (const re of row.expect) t.match(e.message, re, `${row.name}: ${re.source}`);
    t.match(e.message, /^test\.json is not a valid kvs-edge configuration/, `${row.name}: names the file`);
  }
});

t.test('syntax errors name the file and position', async (t) => {
  const y = file('bad.yaml', 'deviceId: cam\nvideo:\n  fps: [1,\n');
  const e = configError(() => loadConfigFile(y, {}));
  t.equal(e.code, 'ERR_CONFIG_PARSE');
  t.match(e.message, /bad\.yaml is not valid YAML at line \d+, column \d+/);
  const j = file('bad.json', '{"deviceId": }');
  t.match(configError(() => loadConfigFile(j, {})).message, /bad\.json is not valid JSON/);
  t.match(configError(() => loadConfigFile(join(dir, 'missing.json'), {})).message, /missing\.json does not exist/);
  const dup = file('dup.yaml', 'deviceId: a\ndeviceId: b\n');
  t.equal(configError(() => loadConfigFile(dup, {})).code, 'ERR_CONFIG_PARSE', 'duplicate YAML keys are an error');
  // Found by fuzzing (fuzz/ts/config-load.fuzz.ts): aliases failed with a bare ReferenceError.
  const alias = configError(() => loadConfigFile(file('alias.yaml', 'deviceId: *cam\n'), {}));
  t.equal(alias.code, 'ERR_CONFIG_PARSE', 'an alias to an unknown anchor is a parse error');
  t.match(alias.message, /alias\.yaml is not valid YAML: .*anchor/);
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'];
  const many = configError(() => loadConfigFile(file('bomb.yaml', bomb.join('\n') + '\n'), {}));
  t.equal(many.code, 'ERR_CONFIG_PARSE', 'an alias expansion bomb is a parse error');
  t.match(many.message, /bomb\.yaml is not valid YAML: .*alias/i);
});

t.test('environment overrides ids and secrets, and errors say which variable', async (t) => {
  const f = file('env.json', JSON.stringify({ deviceId: 'from-file', mqtt: { url: 'mqtt://file:1883' } }));
  const c = loadConfigFile(f, { KVS_EDGE_DEVICE_ID: 'from-env', KVS_EDGE_MQTT_PASSWORD: 's3cret', KVS_EDGE_VIEWERS_MAX: '4', KVS_EDGE_MQTT_ENABLED: 'yes' }).config;
  t.equal(c.deviceId, 'from-env');
  t.equal(c.mqtt.password, 's3cret');
  t.equal(c.mqtt.url, 'mqtt://file:1883', 'file value kept when no override');
  t.equal(c.viewers.max, 4);
  t.equal(c.mqtt.enabled, true);
  const e = configError(() => loadConfigFile(f, { KVS_EDGE_VIEWERS_MAX: 'many' }));
  t.match(e.message, /viewers\.max \(from KVS_EDGE_VIEWERS_MAX\): got "many"/);
  t.equal(redactConfig(c)['mqtt'] && (redactConfig(c)['mqtt'] as { password: string }).password, '(redacted)', 'secrets are redacted for display');
});

t.test('merge patch: objects merge, null restores the default, arrays replace', async (t) => {
  const base = { video: { fps: 25, width: 640 }, ice: { servers: [{ urls: 'stun:a' }, { urls: 'stun:b' }] } };
  const out = mergePatch(base, { video: { fps: null, height: 480 }, ice: { servers: [{ urls: 'stun:c' }] } });
  t.same(out, { video: { width: 640, height: 480 }, ice: { servers: [{ urls: 'stun:c' }] } });
  t.same(base.video, { fps: 25, width: 640 }, 'input not mutated');
});

t.test('the JSON schema describes the configuration for editors', async (t) => {
  const s = configJsonSchema();
  t.equal(s['$schema'], 'https://json-schema.org/draft/2020-12/schema');
  const props = s['properties'] as Record<string, { properties?: Record<string, { enum?: string[] }> }>;
  t.same(props['video']?.properties?.['encoder']?.enum, ['auto', 'v4l2m2m', 'openh264', 'passthrough']);
  t.same(s['required'] ?? [], [], 'no field is required: every one has a default');
  // The example a newcomer would write validates against both.
  t.ok(configSchema.safeParse({ $schema: './kvs-edge.schema.json', deviceId: 'x' }).success);
});
