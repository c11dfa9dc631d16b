import { describe, expect, it } from 'vitest';
import { mix32, murmur3 } from './murmur3.ts';

// MurmurHash3 x86_32 over a byte array, kept plain, to check the string version's block fast
// path and its inline UTF-8 encoder.
function murmur3OfBytes(bytes: Uint8Array, seed: number): number {
  let h = seed | 0;
  const blockEnd = bytes.length - (bytes.length % 4);
  for (let i = 0; i < blockEnd; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let i = bytes.length - 1; i >= blockEnd; i--) k = (k << 8) | bytes[i]!;
  if (bytes.length > blockEnd) {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

describe('murmur3', () => {
  // MurmurHash3 x86_32 values that the imurmurhash package (0.1.4) also returns for these inputs.
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['abc', 0, 0xb3dd93fa],
    ['hello', 0, 0x248bfa47],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ])('hashes %j with seed %i to the reference value', (text, seed, expected) => {
    expect(murmur3(text, seed)).toBe(expected);
  });

  it.each([
    ['two-byte characters', 'aé-ü-1'],
    ['three-byte characters', 'abcd€日本語'],
    ['a surrogate pair', 'a😀b'],
    ['a lone high surrogate', 'abc\ud83d'],
    ['a lone low surrogate', 'x\udc00y'],
    ['ASCII after a multi-byte character', 'é-user-12345678'],
  ])('hashes the UTF-8 bytes of %s', (_case, text) => {
    const bytes = new TextEncoder().encode(text);

    expect(murmur3(text, 42)).toBe(murmur3OfBytes(bytes, 42));
  });

  it('matches the byte version for every length up to 40', () => {
    const mismatches: string[] = [];
    for (let length = 0; length <= 40; length++) {
      const text = Array.from({ length }, (_, i) =>
        String.fromCharCode(i % 3 === 2 ? 0x3b1 + i : 0x61 + i),
      ).join('');
      if (murmur3(text, length) !== murmur3OfBytes(new TextEncoder().encode(text), length)) {
        mismatches.push(text);
      }
    }

    expect(mismatches).toEqual([]);
  });
});

describe('mix32', () => {
  it('returns unsigned 32-bit values', () => {
    for (const value of [0, 1, -1, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32 + 5]) {
      const mixed = mix32(value);
      expect(Number.isInteger(mixed), String(value)).toBe(true);
      expect(mixed, String(value)).toBeGreaterThanOrEqual(0);
      expect(mixed, String(value)).toBeLessThan(2 ** 32);
    }
  });

  it('maps distinct inputs to distinct outputs', () => {
    const outputs = new Set<number>();
    for (let value = 0; value < 100_000; value++) outputs.add(mix32(value));

    expect(outputs.size).toBe(100_000);
  });
});
