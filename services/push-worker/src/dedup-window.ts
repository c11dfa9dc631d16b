/**
 * The job ids handled within the last `windowMs`, at most `maxEntries` of them.
 *
 * A Map keeps insertion order, and every `add` moves its id to the end, so the oldest entry
 * is always first: expired and surplus entries are removed from the front in O(1) each.
 */
export class DedupWindow {
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Job id to the time at which it leaves the window, in milliseconds since the epoch. */
  readonly #expiries = new Map<string, number>();

  constructor(options: { windowMs: number; maxEntries: number; now?: () => number }) {
    this.#windowMs = options.windowMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  /** Number of ids held, expired ones not yet removed included. */
  get size(): number {
    return this.#expiries.size;
  }

  has(id: string): boolean {
    const expiry = this.#expiries.get(id);
    if (expiry === undefined) return false;
    if (expiry > this.#now()) return true;
    this.#expiries.delete(id);
    return false;
  }

  add(id: string): void {
    const now = this.#now();
    this.#expiries.delete(id);
    this.#expiries.set(id, now + this.#windowMs);
    for (const [oldest, expiry] of this.#expiries) {
      if (expiry > now && this.#expiries.size <= this.#maxEntries) break;
      this.#expiries.delete(oldest);
    }
  }
}
