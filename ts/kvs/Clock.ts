/**
 * Local time corrected by the offset of the servers we talk to. AWS rejects a signature whose
 * date is more than 5 minutes off, and cameras often boot without NTP, so every signer in
 * ts/kvs asks this clock, and every HTTP answer with a Date header may correct it.
 */
export class Clock {
  private offsetMs = 0;

  /** Skews below this are left alone: the Date header has 1 s resolution and round trips take time. */
  constructor(private readonly toleranceMs = 5_000) {}

  get skewMs(): number {
    return this.offsetMs;
  }

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  nowMs(): number {
    return Date.now() + this.offsetMs;
  }

  /** Correct from an HTTP `Date` header; returns true when the offset changed. */
  updateFromDateHeader(header: string | undefined | null): boolean {
    if (!header) return false;
    const server = Date.parse(header);
    if (Number.isNaN(server)) return false;
    const offset = server - Date.now();
    if (Math.abs(offset - this.offsetMs) < this.toleranceMs) return false;
    this.offsetMs = Math.abs(offset) < this.toleranceMs ? 0 : offset;
    return true;
  }

  setOffsetMs(ms: number): void {
    this.offsetMs = ms;
  }
}
