/** Delays between attempts of a push send that the push service asked to retry. */
export interface BackoffPolicy {
  /** Upper bound of the first delay, in milliseconds; it doubles with each attempt. */
  baseMs: number;
  /** Largest delay, in milliseconds, a Retry-After included. */
  maxMs: number;
}

/**
 * Returns the delay before the attempt after attempt number `attempt` (1 for the first).
 *
 * Exponential backoff with full jitter: a uniform draw from 0 to min(maxMs, baseMs * 2^(attempt-1)),
 * so that many workers that failed together do not retry together. A `retryAfterMs` from the
 * push service raises the delay to at least that value, and the result never exceeds `maxMs`.
 */
export function computeRetryDelay(
  policy: BackoffPolicy,
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  let delay = Math.floor(random() * ceiling);
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > delay) {
    delay = retryAfterMs;
  }
  return Math.min(delay, policy.maxMs);
}
