// Reading a configuration: a JSON or YAML file, then environment overrides for ids and secrets,
// then validation. Nothing here writes; see config-store.ts for that.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { configSchema, type Config } from './schema.js';
import { ConfigError, invalidConfig, issuesFromZod } from './errors.js';
import { redact } from '../log/redact.js';

export type ConfigFormat = 'json' | 'yaml';

let yamlModule: typeof import('yaml') | undefined;
/** The YAML library, loaded on first use: a device configured in JSON never holds it. */
export function yaml(): typeof import('yaml') {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlModule;
}

interface EnvOverride {
  env: string;
  path: readonly string[];
  kind: 'string' | 'integer' | 'boolean';
}

/** Environment variables that override the file. Secrets and ids belong here, not in the file. */
export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { env: 'KVS_EDGE_DEVICE_ID', path: ['deviceId'], kind: 'string' },
  { env: 'KVS_EDGE_REGION', path: ['region'], kind: 'string' },
  { env: 'KVS_EDGE_CONTROL_ENDPOINT', path: ['endpoints', 'controlPlane'], kind: 'string' },
  { env: 'KVS_EDGE_CHANNEL_NAME', path: ['channel', 'name'], kind: 'string' },
  { env: 'KVS_EDGE_BOARD', path: ['board'], kind: 'string' },
  { env: 'KVS_EDGE_MQTT_ENABLED', path: ['mqtt', 'enabled'], kind: 'boolean' },
  { env: 'KVS_EDGE_MQTT_URL', path: ['mqtt', 'url'], kind: 'string' },
  { env: 'KVS_EDGE_MQTT_CLIENT_ID', path: ['mqtt', 'clientId'], kind: 'string' },
  { env: 'KVS_EDGE_MQTT_USERNAME', path: ['mqtt', 'username'], kind: 'string' },
  { env: 'KVS_EDGE_MQTT_PASSWORD', path: ['mqtt', 'password'], kind: 'string' },
  { env: 'KVS_EDGE_VIEWERS_MAX', path: ['viewers', 'max'], kind: 'integer' },
  { env: 'KVS_EDGE_LOG_LEVEL', path: ['logging', 'level'], kind: 'string' },
];

export function formatOf(file: string): ConfigFormat {
  const ext = extname(file).toLowerCase();
  return ext === '.yaml' || ext === '.yml' ? 'yaml' : 'json';
}

/** Parses text as JSON or YAML; a syntax error names the file, line and column. */
export function parseConfigText(text: string, format: ConfigFormat, what: string): unknown {
  if (text.trim() === '') return {};
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new ConfigError('ERR_CONFIG_PARSE', `${what} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const doc = yaml().parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    const at = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    throw new ConfigError('ERR_CONFIG_PARSE', `${what} is not valid YAML${at}: ${first.message.split('\n')[0]}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (e) {
    // An alias to an anchor defined later or nowhere, or too many aliases (an expansion bomb):
    // the yaml package reports these only when building the value, as a ReferenceError.
    throw new ConfigError('ERR_CONFIG_PARSE', `${what} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

function coerce(raw: string, o: EnvOverride): unknown {
  if (o.kind === 'string') return raw;
  if (o.kind === 'integer') return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return raw;
}

export interface WithEnv {
  doc: Record<string, unknown>;
  /** field -> environment variable it came from, for error messages. */
  sources: Map<string, string>;
}

/** Returns a copy of `doc` with the environment overrides applied. */
export function applyEnv(doc: unknown, env: NodeJS.ProcessEnv): WithEnv {
  const base: Record<string, unknown> =
    doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? structuredClone(doc as Record<string, unknown>) : {};
  const sources = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const raw = env[o.env];
    if (raw === undefined || raw === '') continue;
    let cur = base;
    for (const key of o.path.slice(0, -1)) {
      const next = cur[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[key] = {};
      cur = cur[key] as Record<string, unknown>;
    }
    cur[o.path[o.path.length - 1] as string] = coerce(raw, o);
    sources.set(o.path.join('.'), o.env);
  }
  return { doc: base, sources };
}

/** Validates a parsed document (after env overrides); throws ConfigError naming every bad field. */
export function validateConfig(doc: unknown, what = 'configuration', sources?: Map<string, string>): Config {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalidConfig(what, [
      { field: '(root)', value: doc, allowed: 'an object (a mapping of fields such as deviceId, video, mqtt)' },
    ]);
  }
  const r = configSchema.safeParse(doc);
  if (!r.success) throw invalidConfig(what, issuesFromZod(r.error, doc, sources));
  return r.data;
}

export interface LoadedConfig {
  config: Config;
  /** The document as written in the file, without env overrides and without defaults. */
  document: Record<string, unknown>;
  format: ConfigFormat;
}

export function readConfigDocument(file: string): { document: unknown; format: ConfigFormat } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : String(code);
    throw new ConfigError('ERR_CONFIG_READ', `configuration file ${file} ${why}`);
  }
  const format = formatOf(file);
  return { document: parseConfigText(text, format, file), format };
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { document, format } = readConfigDocument(file);
  const { doc, sources } = applyEnv(document, env);
  const config = validateConfig(doc, file, sources);
  return { config, document: document as Record<string, unknown>, format };
}

/** The configuration with no file at all: defaults plus environment. */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { doc, sources } = applyEnv({}, env);
  return validateConfig(doc, 'the default configuration with environment overrides', sources);
}

/** Applies an RFC 7396 JSON merge patch: objects merge, null deletes (back to the default), the rest replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? structuredClone(target as Record<string, unknown>)
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
      throw new ConfigError('ERR_CONFIG_INVALID', `patch field ${JSON.stringify(k)} is not allowed`, [
        { field: k, value: v, allowed: 'configuration field names only' },
      ]);
    }
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Replaces secrets with '(redacted)', for get-config, `config validate --print` and logs: the same
 * structural rules as every log line (ts/log/redact.ts): AWS keys and session token, the MQTT
 * password, ICE servers' credentials and the usernames that go with them, URL passwords.
 */
export function redactConfig(config: Config): Record<string, unknown> {
  return redact(config) as Record<string, unknown>;
}
