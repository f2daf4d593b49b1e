// Structural redaction of secrets, for every log line (ts/log/logger.ts) and every display of
// the configuration (get-config, `config validate --print`). What is hidden, wherever it appears:
// - the value of a field whose name says it is a secret: secretAccessKey, sessionToken,
//   accessKeyId, password, credential, secret, token, signature, authorization, privateKey, ...
//   in any spelling (AWS_SECRET_ACCESS_KEY, X-Amz-Security-Token, turnPassword);
// - the username next to such a field (a TURN username is half of its credential);
// - in any text (a message, a URL, an error): the SigV4 query parameters of a presigned URL
//   (X-Amz-Credential, X-Amz-Signature, X-Amz-Security-Token) and other secret-named parameters,
//   the password in a URL's user info, Credential=/Signature= of an Authorization header, and
//   anything shaped like an AWS access key id (AKIA/ASIA + 16).
export const REDACTED = '(redacted)';

// Field names, lower-cased with everything but letters and digits removed, that hold secrets:
// an exact name, or one ending with one of the suffixes.
const SECRET_NAMES = new Set(['secret', 'token', 'credential', 'signature', 'authorization', 'proxyauthorization', 'cookie', 'setcookie', 'passwd', 'pass', 'sig']);
const SECRET_SUFFIXES = ['credentials', 'password', 'passphrase', 'secret', 'secretaccesskey', 'secretkey', 'sessiontoken', 'securitytoken', 'accesstoken', 'refreshtoken', 'idtoken', 'authtoken', 'accesskeyid', 'privatekey', 'credential', 'signature'];

function norm(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** True when a field (or env var, query parameter, header) of this name holds a secret. */
export function isSecretName(name: string): boolean {
  const n = norm(name);
  if (n === '') return false;
  return SECRET_NAMES.has(n) || SECRET_SUFFIXES.some((s) => n.endsWith(s));
}

const USERNAME = new Set(['username', 'user']);

// name=value in a query string (or a form body): the value runs to the next & # whitespace or quote.
const QUERY_PARAM = /([?&;])([A-Za-z0-9_.-]+)=([^&#\s"'<>]*)/g;
// scheme://user:password@host
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@"']*):([^\s/@"']*)@/gi;
// Authorization: AWS4-HMAC-SHA256 Credential=AKIA.../..., SignedHeaders=..., Signature=...
const AUTH_PARTS = /\b(Credential|Signature)=([^,\s&"']+)/g;
// AWS access key ids (long-term AKIA, temporary ASIA, and the other documented prefixes).
const ACCESS_KEY_ID = /\b(?:AKIA|ASIA|AROA|AIDA|ANPA|ANVA|AGPA|APKA)[A-Z0-9]{16}\b/g;

/** Redacts secrets inside free text: URLs, query strings, authorization headers, key ids. */
export function redactText(text: string): string {
  if (text.length === 0) return text;
  return text
    .replace(URL_USERINFO, (_m, head: string) => `${head}:${REDACTED}@`)
    .replace(QUERY_PARAM, (m, sep: string, name: string) => (isSecretName(name) ? `${sep}${name}=${REDACTED}` : m))
    .replace(AUTH_PARTS, (_m, name: string) => `${name}=${REDACTED}`)
    .replace(ACCESS_KEY_ID, REDACTED);
}

/**
 * A copy of `value` with every secret redacted (see the top of this file). Errors become
 * { name, message, code } with the message redacted. Cycles become '[circular]'; depth is
 * bounded (past 12 levels: '[deep]').
 */
export function redact(value: unknown): unknown {
  return walk(value, new WeakSet(), 0);
}

/** A value to hide under a secret name: not empty, and not an object to look into instead. */
function isValue(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && (typeof v !== 'object' || Array.isArray(v));
}

function walk(value: unknown, seen: WeakSet<object>, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth > 12) return '[deep]';
  seen.add(value);
  try {
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      return { name: value.name, message: redactText(value.message), ...(code !== undefined ? { code: walk(code, seen, depth + 1) } : {}) };
    }
    if (value instanceof URL) return redactText(value.href);
    if (value instanceof Date) return value;
    if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
    if (Array.isArray(value)) return value.map((v) => walk(v, seen, depth + 1));
    if (value instanceof Map) return walk(Object.fromEntries(value), seen, depth);
    const entries = Object.entries(value as Record<string, unknown>);
    const hasSecret = entries.some(([k, v]) => isSecretName(k) && isValue(v));
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const secret = isSecretName(k) || (hasSecret && USERNAME.has(norm(k)));
      if (secret && isValue(v)) out[k] = REDACTED;
      else out[k] = walk(v, seen, depth + 1);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * Secret values known at run time (the configuration's keys, passwords and credentials), scrubbed
 * from finished lines as they are, URL-encoded and JSON-escaped. Values under 6 characters are
 * not kept (they would scrub ordinary words); at most 64 are kept, the oldest dropped first.
 */
export class SecretValues {
  readonly #values = new Set<string>();
  #forms: string[] = [];

  constructor(values?: Iterable<string>) {
    if (values) this.add(values);
  }

  add(values: Iterable<string>): void {
    for (const v of values) {
      if (typeof v !== 'string' || v.length < 6 || this.#values.has(v)) continue;
      this.#values.add(v);
      if (this.#values.size > 64) this.#values.delete(this.#values.values().next().value as string);
    }
    const forms = new Set<string>();
    for (const v of this.#values) for (const f of [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1)]) forms.add(f);
    // Longest first, so that a value containing another is replaced whole.
    this.#forms = [...forms].sort((a, b) => b.length - a.length);
  }

  scrub(line: string): string {
    let out = line;
    for (const f of this.#forms) if (out.includes(f)) out = out.split(f).join(REDACTED);
    return out;
  }
}

/** Every value under a secret name in `value` (a configuration, an options object). */
export function secretValues(value: unknown): string[] {
  const found: string[] = [];
  const visit = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== 'object' || depth > 12) return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (typeof x === 'string' && isSecretName(k)) found.push(x);
      else visit(x, depth + 1);
    }
  };
  visit(value, 0);
  return found;
}
