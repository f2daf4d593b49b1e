// Remembers the answer to each requestId (bounded, oldest evicted first), so a retried request
// gets the first answer and the device does not act twice.
export class AnswerCache<V> {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #map = new Map<string, { value: V; at: number }>();

  constructor(max = 512, ttlMs = 15 * 60_000) {
    this.#max = max;
    this.#ttlMs = ttlMs;
  }

  get(key: string): V | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (Date.now() - e.at > this.#ttlMs) {
      this.#map.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, { value, at: Date.now() });
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value;
      if (oldest === undefined) break;
      this.#map.delete(oldest);
    }
  }

  get size(): number {
    return this.#map.size;
  }
}
