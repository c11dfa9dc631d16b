/** Settings of the reconnect backoff, in milliseconds. */
export interface BackoffOptions {
  /** Delay cap of the first retry; doubles with every failed attempt. */
  baseMs: number;
  /** Upper bound of the delay cap. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 10_000 };

/**
 * Computes the delay before retry number `attempt` (0 for the first) with full jitter: a
 * uniform random value between 0 and min(maxMs, baseMs * 2^attempt).
 *
 * Full jitter spreads clients that lost the same node over the whole window, so they do not
 * come back in one wave.
 */
export function computeBackoffDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  // 2^30 already exceeds any sane cap; stopping there keeps the product finite.
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.floor(random() * cap);
}
