/** A connection's bucket of typing frames. */
interface Bucket {
  tokens: number;
  refilledAt: number;
}

/**
 * The rate limit of typing frames, per connection: `perSecond` sustained, bursts of twice that.
 *
 * A typing frame over the limit is dropped without an error, because the next one carries the
 * same state and the receivers' expiry ends an indicator that a dropped `stop` would have ended.
 */
export class TypingGate<S extends object> {
  readonly #perSecond: number;
  readonly #buckets = new WeakMap<S, Bucket>();

  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  /** Takes one token of the connection's bucket; false when it is empty. */
  admit(socket: S, now = Date.now()): boolean {
    const burst = this.#perSecond * 2;
    const bucket = this.#buckets.get(socket) ?? { tokens: burst, refilledAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) * this.#perSecond) / 1000);
    bucket.refilledAt = now;
    this.#buckets.set(socket, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
