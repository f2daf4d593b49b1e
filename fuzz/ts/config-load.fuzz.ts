// Fuzz target: the configuration loader (what loadConfigFile does after reading the file):
// parseConfigText (JSON or YAML), applyEnv, validateConfig.
// Input: byte 0 picks the format (bit 0) and whether a few environment overrides are set
// (bit 1: their values are the next length-prefixed fields); the rest is the file's text.
// Property: the result is a valid configuration or a ConfigError (ERR_CONFIG_PARSE or
// ERR_CONFIG_INVALID) with a message; nothing else is thrown. A configuration that was
// accepted validates again, unchanged, from its own JSON form (defaults are stable).
import { isDeepStrictEqual } from 'node:util';
import { ConfigError } from '../../ts/config/errors.js';
import { applyEnv, parseConfigText, validateConfig } from '../../ts/config/load.js';
import { check, FuzzFailure, Reader } from './harness.js';

const ENV_KEYS = ['KVS_EDGE_VIEWERS_MAX', 'KVS_EDGE_MQTT_ENABLED', 'KVS_EDGE_CHANNEL_NAME', 'KVS_EDGE_LOG_LEVEL'];

export function fuzz(data: Buffer): void {
  const r = new Reader(data);
  const flags = r.byte();
  const format = flags & 1 ? 'yaml' : 'json';
  const env: NodeJS.ProcessEnv = {};
  if (flags & 2) for (const k of ENV_KEYS) env[k] = r.string();
  const text = r.rest().toString('utf8');
  let config;
  try {
    const { doc, sources } = applyEnv(parseConfigText(text, format, 'fuzz.conf'), env);
    config = validateConfig(doc, 'fuzz.conf', sources);
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    check(e instanceof ConfigError, `only a ConfigError may be thrown, got ${(e as Error)?.stack ?? String(e)}`);
    check(e.code === 'ERR_CONFIG_PARSE' || e.code === 'ERR_CONFIG_INVALID', `unexpected code ${e.code}`);
    check(e.message.startsWith('fuzz.conf is not'), `the error names the file: ${e.message}`);
    check(e.code === 'ERR_CONFIG_PARSE' || e.issues.length > 0, 'an invalid configuration names the bad fields');
    return;
  }
  check(typeof config === 'object' && config !== null && typeof config.deviceId === 'string', 'a configuration has a deviceId');
  const again = validateConfig(JSON.parse(JSON.stringify(config)) as unknown, 'round trip');
  check(isDeepStrictEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(config))), 'a valid configuration validates to itself');
}
