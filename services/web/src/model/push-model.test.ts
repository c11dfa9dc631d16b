import { describe, expect, it } from 'vitest';
import { decodeBase64Url } from './push-model.ts';

describe('decodeBase64Url', () => {
  it('decodes unpadded base64url', () => {
    const bytes = Uint8Array.from([0, 250, 251, 252, 253, 254, 255, 4]);
    const text = Buffer.from(bytes).toString('base64url');
    expect(text).not.toContain('=');
    expect([...decodeBase64Url(text)]).toEqual([...bytes]);
  });

  it('decodes a 65-byte VAPID key', () => {
    const key = Buffer.alloc(65, 7);
    key[0] = 4;
    expect(decodeBase64Url(key.toString('base64url'))).toHaveLength(65);
  });
});
