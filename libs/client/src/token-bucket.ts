/**
 * A token bucket: up to `capacity` tokens, refilled at `ratePerSecond`. Pure apart from the
 * `now` values its callers pass in, in milliseconds.
 */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #capacity: number;
  #tokens: number;
  #updatedAt: number;

  constructor(ratePerSecond: number, capacity: number, now: number) {
    this.#ratePerMs = ratePerSecond / 1000;
    this.#capacity = capacity;
    this.#tokens = capacity;
    this.#updatedAt = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Returns the milliseconds until the next token is available; 0 if one is. */
  waitMs(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 1) return 0;
    return Math.ceil((1 - this.#tokens) / this.#ratePerMs);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed * this.#ratePerMs);
    this.#updatedAt = now;
  }
}
