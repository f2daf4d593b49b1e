// Shared by the TypeScript fuzz targets (run by Jazzer.js through fuzz/ts/run.sh).
// A property that does not hold throws FuzzFailure: Jazzer.js reports it as a finding and
// writes the input to a crash-* file.

export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new FuzzFailure(what);
}

// An unhandled rejection anywhere fails the input that was running (or the next one, if it
// surfaced between inputs): Jazzer.js itself does not watch for them.
let unhandled: unknown;
process.on('unhandledRejection', (reason) => {
  unhandled ??= reason;
});

export function throwIfUnhandledRejection(): void {
  if (unhandled === undefined) return;
  const reason = unhandled;
  unhandled = undefined;
  throw new FuzzFailure(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
}

/** Lets pending promise callbacks and immediates run, so that unhandled rejections surface. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs an asynchronous fuzz body with a deadline. libFuzzer's own per-input timeout fires
 * only on the thread that runs the fuzzer loop, which is not Node's thread in Jazzer.js's
 * asynchronous mode, so asynchronous targets keep their own: a body still pending after `ms`
 * (a promise that never settles) is a finding.
 */
export async function withDeadline(ms: number, body: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new FuzzFailure(`hang: the input did not finish within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([body(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a fuzz input as a series of fields: bytes, small integers, choices, strings. */
export class Reader {
  #pos = 0;
  constructor(private readonly data: Buffer) {}

  get remaining(): number {
    return this.data.length - this.#pos;
  }

  byte(): number {
    return this.#pos < this.data.length ? (this.data[this.#pos++] as number) : 0;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.byte() % items.length] as T;
  }

  bool(): boolean {
    return (this.byte() & 1) === 1;
  }

  /** The next length-prefixed field (one length byte, up to 255 bytes). */
  bytes(): Buffer {
    const n = Math.min(this.byte(), this.remaining);
    const b = this.data.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  /** The next field with a two-byte length (up to 65535 bytes). */
  bytes16(): Buffer {
    const n = Math.min(this.byte() * 256 + this.byte(), this.remaining);
    const b = this.data.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  string(): string {
    return this.bytes().toString('utf8');
  }

  /** Everything left. */
  rest(): Buffer {
    const b = this.data.subarray(this.#pos);
    this.#pos = this.data.length;
    return b;
  }
}
