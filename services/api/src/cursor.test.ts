import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@switchboard/protocol';
import { SwitchboardError } from '@switchboard/core';
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH, type HistoryCursor } from './cursor.ts';

const CONV = 'd.u_alice.u_bob';

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function decodeError(text: string, conv = CONV): SwitchboardError {
  try {
    decodeCursor(text, conv);
  } catch (err) {
    if (err instanceof SwitchboardError) return err;
    throw err;
  }
  throw new Error(`decodeCursor accepted ${JSON.stringify(text)}`);
}

describe('history cursor', () => {
  it.each<HistoryCursor>([
    { conv: CONV, seq: 0, direction: 'older' },
    { conv: CONV, seq: 41, direction: 'newer' },
    { conv: 'g.team-1', seq: Number.MAX_SAFE_INTEGER, direction: 'older' },
  ])('round-trips $direction at seq $seq', (cursor) => {
    const text = encodeCursor(cursor);

    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text, cursor.conv)).toEqual(cursor);
  });

  it('encodes the documented JSON layout', () => {
    const text = encodeCursor({ conv: CONV, seq: 7, direction: 'newer' });

    expect(JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))).toEqual({
      c: CONV,
      s: 7,
      d: 'newer',
    });
  });

  it('rejects a cursor of another conversation', () => {
    const text = encodeCursor({ conv: 'g.other', seq: 3, direction: 'older' });

    const err = decodeError(text);

    expect(err.code).toBe(ErrorCode.CursorInvalid);
    expect(err.httpStatus).toBe(400);
    expect(err.message).toContain('another conversation');
  });

  it.each([
    ['empty text', ''],
    ['characters outside base64url', 'abc+/='],
    ['text over the length limit', 'A'.repeat(MAX_CURSOR_LENGTH + 1)],
    ['bytes that are not JSON', base64url('not json')],
    ['a JSON string', base64url('"older"')],
    ['a JSON array', base64url('[1,2,3]')],
    ['JSON null', base64url('null')],
    ['a missing seq', base64url(JSON.stringify({ c: CONV, d: 'older' }))],
    ['an extra field', base64url(JSON.stringify({ c: CONV, s: 1, d: 'older', x: 1 }))],
    ['a numeric conversation', base64url(JSON.stringify({ c: 5, s: 1, d: 'older' }))],
    ['a string seq', base64url(JSON.stringify({ c: CONV, s: '1', d: 'older' }))],
    ['a negative seq', base64url(JSON.stringify({ c: CONV, s: -1, d: 'older' }))],
    ['a fractional seq', base64url(JSON.stringify({ c: CONV, s: 1.5, d: 'older' }))],
    ['an unsafe integer seq', base64url(`{"c":"${CONV}","s":9007199254740993,"d":"older"}`)],
    ['an unknown direction', base64url(JSON.stringify({ c: CONV, s: 1, d: 'sideways' }))],
  ])('rejects %s', (_case, text) => {
    const err = decodeError(text);

    expect(err.code).toBe(ErrorCode.CursorInvalid);
    expect(err.httpStatus).toBe(400);
    expect(err.retryable).toBe(false);
  });
});
