import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('allows a full burst, then refuses', () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true]);
    expect(bucket.take(0)).toBe(false);
  });

  it('refills at its rate', () => {
    const bucket = new TokenBucket(10, 3, 0);
    for (let i = 0; i < 3; i += 1) bucket.take(0);
    expect(bucket.waitMs(0)).toBe(100);
    expect(bucket.take(99)).toBe(false);
    expect(bucket.take(100)).toBe(true);
    expect(bucket.waitMs(100)).toBe(100);
  });

  it('never holds more than its capacity', () => {
    const bucket = new TokenBucket(10, 2, 0);
    let taken = 0;
    while (bucket.take(60_000)) taken += 1;
    expect(taken).toBe(2);
  });

  it('reports no wait while a token is left', () => {
    const bucket = new TokenBucket(5, 1, 0);
    expect(bucket.waitMs(0)).toBe(0);
  });
});
