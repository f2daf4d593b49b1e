// Turns zod issues into messages a person can act on: which field, what value, what is allowed.
import type { z } from 'zod';
import { isSecretName, redactText } from '../log/redact.js';

export interface ConfigIssue {
  /** Dotted path, e.g. "video.encoder"; "(root)" for the document itself. */
  field: string;
  /** The offending value as given (undefined when missing). */
  value: unknown;
  /** What would be accepted. */
  allowed: string;
  /** Where the value came from, e.g. "KVS_EDGE_MQTT_URL" or a file name. */
  source?: string;
}

export class ConfigError extends Error {
  readonly code: string;
  readonly issues: ConfigIssue[];
  constructor(code: string, message: string, issues: ConfigIssue[] = []) {
    super(message);
    this.name = 'ConfigError';
    this.code = code;
    this.issues = issues;
  }
}

export function pathToField(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

type Issue = z.core.$ZodIssue;

function allowedOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `a value of type ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small': {
      const op = issue.inclusive === false ? '>' : '>=';
      if (issue.origin === 'string') return `a string of at least ${String(issue.minimum)} characters`;
      if (issue.origin === 'array') return `at least ${String(issue.minimum)} items`;
      return `a number ${op} ${String(issue.minimum)}`;
    }
    case 'too_big': {
      const op = issue.inclusive === false ? '<' : '<=';
      if (issue.origin === 'string') return `a string of at most ${String(issue.maximum)} characters`;
      if (issue.origin === 'array') return `at most ${String(issue.maximum)} items`;
      return `a number ${op} ${String(issue.maximum)}`;
    }
    case 'unrecognized_keys':
      return `no field named ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} here (check the spelling)`;
    case 'invalid_union': {
      if ('discriminator' in issue && Array.isArray((issue as { options?: unknown }).options)) {
        const opts = (issue as { options: unknown[] }).options;
        return `one of ${opts.map((o) => JSON.stringify(o)).join(', ')}`;
      }
      const alts = issue.errors
        .map((branch) => branch[0])
        .filter((b): b is Issue => b !== undefined)
        .map(allowedOf);
      return alts.length ? alts.join(' or ') : issue.message;
    }
    case 'invalid_key': {
      // A record's key (a name in video.sources, ...): what its own check says.
      const inner = issue.issues[0];
      return inner ? allowedOf(inner) : issue.message;
    }
    default:
      return issue.message.replace(/^Invalid input: /, '');
  }
}

export function issuesFromZod(error: z.ZodError, input: unknown, sources?: Map<string, string>): ConfigIssue[] {
  return error.issues.flatMap((issue) => fromIssue(issue, input, sources));
}

function fromIssue(issue: Issue, input: unknown, sources?: Map<string, string>): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    // One issue per unknown key, named by its full path, so a typo is found at once.
    return issue.keys.map((key) => ({
      field: pathToField([...issue.path, key]),
      value: valueAt(input, [...issue.path, key]),
      allowed: `no field named ${JSON.stringify(key)} here (check the spelling)`,
    }));
  }
  if (issue.code === 'invalid_union' && !('discriminator' in issue)) {
    // A field that takes a name or an object (video.source, audio.talkback): the value's own
    // branch says precisely what is wrong inside it.
    const own = issue.errors.filter((b) => !b.some((i) => i.code === 'invalid_type' && i.path.length === 0));
    if (own.length === 1 && own[0]) return own[0].flatMap((i) => fromIssue({ ...i, path: [...issue.path, ...i.path] } as Issue, input, sources));
  }
  const field = pathToField(issue.path);
  const out: ConfigIssue = { field, value: valueAt(input, issue.path), allowed: allowedOf(issue) };
  const src = sources?.get(field);
  if (src !== undefined) out.source = src;
  return [out];
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.source ? ` (from ${issue.source})` : '';
  if (issue.allowed.startsWith('no field named')) {
    return `${issue.field}${where}: unknown field; ${issue.allowed}`;
  }
  // A secret that fails validation is still a secret: say what kind of value it is, not what.
  const name = issue.field.split(/[.[\]]/).filter(Boolean).pop() ?? '';
  const got =
    isSecretName(name) && issue.value !== undefined
      ? `${typeof issue.value === 'string' ? `a string of ${issue.value.length} characters` : issue.value === null ? 'null' : Array.isArray(issue.value) ? 'an array' : `a ${typeof issue.value}`} (a secret: not shown)`
      : redactText(describeValue(issue.value));
  return `${issue.field}${where}: got ${got}; allowed: ${issue.allowed}`;
}

export function invalidConfig(what: string, issues: ConfigIssue[]): ConfigError {
  const lines = issues.map((i) => '  ' + formatIssue(i)).join('\n');
  return new ConfigError('ERR_CONFIG_INVALID', `${what} is not a valid kvs-edge configuration:\n${lines}`, issues);
}
