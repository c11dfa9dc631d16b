import { describe, expect, it } from 'vitest';
import { computeRetryDelay } from './backoff.ts';

const policy = { baseMs: 500, maxMs: 30_000 };

describe('computeRetryDelay', () => {
  it('draws from zero to the doubled ceiling', () => {
    expect(computeRetryDelay(policy, 1, undefined, () => 0)).toBe(0);
    expect(computeRetryDelay(policy, 1, undefined, () => 0.999)).toBe(499);
    expect(computeRetryDelay(policy, 3, undefined, () => 0.5)).toBe(1000);
  });

  it('caps the ceiling at the maximum', () => {
    expect(computeRetryDelay(policy, 12, undefined, () => 0.999)).toBe(29_970);
  });

  it('waits at least Retry-After, up to the maximum', () => {
    expect(computeRetryDelay(policy, 1, 2000, () => 0.1)).toBe(2000);
    expect(computeRetryDelay(policy, 8, 2000, () => 0.9)).toBeGreaterThan(2000);
    expect(computeRetryDelay(policy, 1, 120_000, () => 0.1)).toBe(30_000);
  });
});
