import { describe, expect, it } from 'vitest';
import { computeBackoffDelay, DEFAULT_BACKOFF } from './backoff.ts';

describe('computeBackoffDelay', () => {
  const top = () => 0.999999;

  it.each([
    [0, 249],
    [1, 499],
    [2, 999],
    [5, 7999],
    [6, 9999],
    [50, 9999],
  ])('caps attempt %i just below %i ms', (attempt, expected) => {
    expect(computeBackoffDelay(attempt, DEFAULT_BACKOFF, top)).toBe(expected);
  });

  it('returns zero at the bottom of the jitter', () => {
    expect(computeBackoffDelay(3, DEFAULT_BACKOFF, () => 0)).toBe(0);
  });

  it('spreads delays uniformly over the window', () => {
    const delays = Array.from({ length: 2000 }, () => computeBackoffDelay(3, DEFAULT_BACKOFF));
    const mean = delays.reduce((sum, d) => sum + d, 0) / delays.length;
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(2000);
    // The mean of uniform [0, 2000) is 1000; 2000 samples keep it well within 100.
    expect(Math.abs(mean - 1000)).toBeLessThan(100);
  });

  it('honours custom base and maximum', () => {
    expect(computeBackoffDelay(0, { baseMs: 10, maxMs: 50 }, top)).toBe(9);
    expect(computeBackoffDelay(10, { baseMs: 10, maxMs: 50 }, top)).toBe(49);
  });

  it('treats a negative attempt as the first', () => {
    expect(computeBackoffDelay(-3, DEFAULT_BACKOFF, top)).toBe(249);
  });
});
