// Files that hold secrets must be readable by their owner only. `kvs-edge run` checks, at start,
// the configuration file it was given (when it holds a secret: static AWS keys, a session token,
// the MQTT password, an ICE server credential) and the env file named by KVS_EDGE_ENV_FILE (the
// unit sets it to the EnvironmentFile= systemd read, which the runtime cannot see otherwise).
// Each one its group or others can read gets a warning naming the file and the fix.
import { readFileSync, statSync } from 'node:fs';
import { isSecretName } from '../log/redact.js';

export const ENV_FILE_VAR = 'KVS_EDGE_ENV_FILE';

export interface SecretFileWarning {
  file: string;
  /** e.g. '0644' */
  mode: string;
  /** Who else can read it. */
  readableBy: 'group' | 'others' | 'group and others';
  /** What it holds, e.g. 'credentials.secretAccessKey' or 'AWS_SECRET_ACCESS_KEY'. */
  holds: string[];
  fix: string;
  message: string;
}

/** Paths (dotted) of the secret values in a configuration document. */
function secretFields(doc: unknown, prefix = '', depth = 0): string[] {
  if (doc === null || typeof doc !== 'object' || depth > 12) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const path = Array.isArray(doc) ? `${prefix}[${k}]` : prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string' && v !== '' && isSecretName(k)) out.push(path);
    else out.push(...secretFields(v, path, depth + 1));
  }
  return out;
}

/** Names of the variables in KEY=value env-file text whose names say they hold secrets. */
export function envFileSecrets(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(raw);
    if (m && m[1] && isSecretName(m[1]) && (m[2] ?? '').trim() !== '') out.push(m[1]);
  }
  return out;
}

function check(file: string, holds: string[]): SecretFileWarning | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  const group = (mode & 0o040) !== 0;
  const others = (mode & 0o004) !== 0;
  if (!group && !others) return undefined;
  const readableBy = group && others ? 'group and others' : group ? 'group' : 'others';
  const m = `0${mode.toString(8).padStart(3, '0')}`;
  const fix = `chmod 600 ${file}`;
  return {
    file,
    mode: m,
    readableBy,
    holds,
    fix,
    message: `${file} holds secrets (${holds.join(', ')}) and can be read by ${readableBy} (mode ${m}); fix: ${fix}`,
  };
}

/**
 * Warnings for the configuration file (given its parsed document, as written) and for the env
 * file named in `env[KVS_EDGE_ENV_FILE]`. An env file the runtime cannot read but others can is
 * reported too: it is there to hold secrets.
 */
export function secretFileWarnings(configFile: string, document: unknown, env: NodeJS.ProcessEnv): SecretFileWarning[] {
  const out: SecretFileWarning[] = [];
  const inConfig = secretFields(document);
  if (inConfig.length) {
    const w = check(configFile, inConfig);
    if (w) out.push(w);
  }
  const envFile = env[ENV_FILE_VAR];
  if (envFile) {
    let holds: string[];
    try {
      holds = envFileSecrets(readFileSync(envFile, 'utf8'));
    } catch (e) {
      holds = (e as NodeJS.ErrnoException).code === 'ENOENT' ? [] : ['(not readable by this user, so not known)'];
    }
    if (holds.length) {
      const w = check(envFile, holds);
      if (w) out.push(w);
    }
  }
  return out;
}
