// Fuzz target: the configuration loader (what loadConfigFile does after reading the file):
// parseConfigText (JSON or YAML), applyEnv, validateConfig.
// Input: byte 0 picks the format (bit 0) and whether a few environment overrides are set
// (bit 1: their values are the next length-prefixed fields); the rest is the file's text.
// Property: the result is a valid configuration or a ConfigError (ERR_CONFIG_PARSE or
// ERR_CONFIG_INVALID) with a message; nothing else is thrown. A configuration that was
// accepted validates again, unchanged, from its own JSON form (defaults are stable), less the
// names of the alternatives it picked (derived fields, not input ones).
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
  const again = validateConfig(withoutDerived(config), 'round trip');
  check(isDeepStrictEqual(withoutDerived(again), withoutDerived(config)), 'a valid configuration validates to itself');
}

/**
 * The configuration as a document: a JSON copy without what validation derives (which named
 * alternative video.source, audio.source and audio.talkback were: they are then the resolved
 * objects).
 */
function withoutDerived(config: unknown): Record<string, Record<string, unknown>> {
  const doc = JSON.parse(JSON.stringify(config)) as Record<string, Record<string, unknown>>;
  if (doc['video']) delete doc['video']['sourceName'];
  if (doc['audio']) {
    delete doc['audio']['sourceName'];
    delete doc['audio']['talkbackName'];
  }
  return doc;
}
