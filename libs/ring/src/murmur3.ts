// MurmurHash3 x86_32 written with Math.imul and 32-bit integer operations only, so every process
// on every platform computes the same value. Any other MurmurHash3 x86_32 over the UTF-8 bytes
// of the same string returns it too.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * Computes MurmurHash3 x86_32 of the UTF-8 bytes of `text`, as an unsigned 32-bit integer.
 *
 * The string is encoded on the fly, so a lone surrogate becomes U+FFFD as in TextEncoder.
 */
export function murmur3(text: string, seed: number): number {
  let h = seed | 0;
  let i = 0;

  // Fast path: user and node ids are ASCII, so whole blocks of four code units are four bytes.
  for (; i + 4 <= text.length; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 0x80) break;
    h = mixBlock(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }

  let block = 0;
  let blockBytes = 0;
  let length = i;
  for (; i < text.length; i++) {
    let code = text.charCodeAt(i);

    if (code < 0x80) {
      block |= code << (blockBytes << 3);
      length++;
      if (++blockBytes === 4) {
        h = mixBlock(h, block);
        block = 0;
        blockBytes = 0;
      }
      continue;
    }

    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        code = 0xfffd;
      }
    }

    let byteCount: number;
    let bytes: number;
    if (code < 0x800) {
      byteCount = 2;
      bytes = 0xc0 | (code >>> 6) | ((0x80 | (code & 0x3f)) << 8);
    } else if (code < 0x10000) {
      byteCount = 3;
      bytes = 0xe0 | (code >>> 12) | ((0x80 | ((code >>> 6) & 0x3f)) << 8) | ((0x80 | (code & 0x3f)) << 16);
    } else {
      byteCount = 4;
      bytes =
        0xf0 |
        (code >>> 18) |
        ((0x80 | ((code >>> 12) & 0x3f)) << 8) |
        ((0x80 | ((code >>> 6) & 0x3f)) << 16) |
        ((0x80 | (code & 0x3f)) << 24);
    }

    for (let b = 0; b < byteCount; b++) {
      block |= ((bytes >>> (b << 3)) & 0xff) << (blockBytes << 3);
      length++;
      if (++blockBytes === 4) {
        h = mixBlock(h, block);
        block = 0;
        blockBytes = 0;
      }
    }
  }

  // Tail: the last 1 to 3 bytes are mixed into k1 without the block's rotate-and-add of h.
  if (blockBytes > 0) {
    let k1 = Math.imul(block, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h ^= Math.imul(k1, C2);
  }

  h ^= length;
  return mix32(h);
}

/**
 * Applies the MurmurHash3 finalizer (fmix32), a bijection of 32-bit integers that spreads every
 * input bit over the whole output. Returns an unsigned value.
 */
export function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixBlock(h: number, block: number): number {
  let k1 = Math.imul(block, C1);
  k1 = (k1 << 15) | (k1 >>> 17);
  h ^= Math.imul(k1, C2);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
