// Structured logger: one JSON object per line, or a short human line when the output is a TTY.
// Children share their root's level, so set-log-level over MQTT changes every module at once.
// Every line is redacted on its way out (ts/log/redact.ts): secret-named fields, presigned URL
// parameters, URL passwords and key ids never reach the sink, at any level.
// Known secret values (the configuration's, see addSecrets) are also scrubbed from the finished
// line, wherever they appear (an error message, a library's text).
import { SecretValues, redact, redactText } from './redact.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'auto' | 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: 100,
};

export interface LogSink {
  write(line: string): unknown;
  isTTY?: boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; default process.stderr, so stdout stays free for command output. */
  sink?: LogSink;
  /** Fields added to every line. */
  fields?: LogFields;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** Secret values to scrub from every line (more with addSecrets). */
  secrets?: Iterable<string>;
}

interface SharedState {
  level: LogLevel;
  pretty: boolean;
  sink: LogSink;
  now: () => Date;
  secrets: SecretValues;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

export class Logger {
  readonly #shared: SharedState;
  readonly #fields: LogFields;

  constructor(options: LoggerOptions = {}, shared?: SharedState) {
    const sink = options.sink ?? process.stderr;
    const format = options.format ?? 'auto';
    this.#shared = shared ?? {
      level: options.level ?? 'info',
      pretty: format === 'pretty' || (format === 'auto' && sink.isTTY === true),
      sink,
      now: options.now ?? (() => new Date()),
      secrets: new SecretValues(options.secrets),
    };
    this.#fields = { ...(options.fields ?? {}) };
  }

  get level(): LogLevel {
    return this.#shared.level;
  }

  /** Changes the level of this logger, its root and every child, at run time. */
  setLevel(level: LogLevel): void {
    if (!isLogLevel(level)) {
      throw Object.assign(new TypeError(`log level "${String(level)}" is not one of ${LOG_LEVELS.join(', ')}`), {
        code: 'ERR_LOG_LEVEL',
      });
    }
    this.#shared.level = level;
  }

  /** Scrubs these values (secrets known at run time) from every later line of this logger's tree. */
  addSecrets(values: Iterable<string>): void {
    this.#shared.secrets.add(values);
  }

  /** `text` with the known secret values scrubbed (for output that is not a log line). */
  scrub(text: string): string {
    return this.#shared.secrets.scrub(text);
  }

  child(fields: LogFields): Logger {
    const c = new Logger({ fields: { ...this.#fields, ...fields } }, this.#shared);
    return c;
  }

  enabled(level: LogLevel): boolean {
    return level !== 'silent' && RANK[level] >= RANK[this.#shared.level];
  }

  trace(msg: string, fields?: LogFields): void {
    this.log('trace', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  fatal(msg: string, fields?: LogFields): void {
    this.log('fatal', msg, fields);
  }

  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const time = this.#shared.now().toISOString();
    const all = redact({ ...this.#fields, ...(fields ?? {}) }) as LogFields;
    msg = redactText(msg);
    let line: string;
    if (this.#shared.pretty) {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : safeStringify(v)}`)
        .join(' ');
      line = `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? ' ' + extra : ''}\n`;
    } else {
      line = safeStringify({ time, level, msg, ...all }) + '\n';
    }
    this.#shared.sink.write(this.#shared.secrets.scrub(line));
  }
}

function safeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return '[circular]';
      seen.add(v);
    }
    return v;
  });
}
