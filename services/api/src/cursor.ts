import { ErrorCode } from '@switchboard/protocol';
import { InvalidRequestError } from '@switchboard/core';

/** Direction of a history page. `older` pages are newest first and `newer` pages oldest first. */
export type HistoryDirection = 'older' | 'newer';

/** Position of a history page: the sequence number that the next page starts after. */
export interface HistoryCursor {
  conv: string;
  /** Sequence number of the last message of the previous page. */
  seq: number;
  direction: HistoryDirection;
}

/** Maximum length of a cursor. Encoded cursors are a few dozen characters, so longer text is not a cursor. */
export const MAX_CURSOR_LENGTH = 512;

const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/;

/**
 * Encodes a cursor as base64url of `{"c":conv,"s":seq,"d":direction}`.
 *
 * Clients treat the text as opaque, so the layout may change in a later version.
 */
export function encodeCursor(cursor: HistoryCursor): string {
  const json = JSON.stringify({ c: cursor.conv, s: cursor.seq, d: cursor.direction });
  return Buffer.from(json, 'utf8').toString('base64url');
}

/**
 * Decodes a cursor made by `encodeCursor` and checks that it belongs to `conv`.
 *
 * Throws an InvalidRequestError with SWB_ERR_CURSOR_INVALID for any text that is not such a
 * cursor, so a client bug never turns into a page of the wrong conversation.
 */
export function decodeCursor(text: string, conv: string): HistoryCursor {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !BASE64URL_PATTERN.test(text)) {
    throw invalidCursor(`is not base64url text of 1 to ${MAX_CURSOR_LENGTH} characters`);
  }

  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor('does not decode to JSON');
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidCursor('does not decode to an object');
  }
  const fields = value as Record<string, unknown>;
  const keys = Object.keys(fields).sort().join(',');
  if (keys !== 'c,d,s') {
    throw invalidCursor('must contain exactly the fields c, d and s');
  }
  const { c, s, d } = fields;
  if (typeof c !== 'string') {
    throw invalidCursor('has no conversation id');
  }
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
    throw invalidCursor('has no valid sequence number');
  }
  if (d !== 'older' && d !== 'newer') {
    throw invalidCursor('has no valid direction');
  }
  if (c !== conv) {
    throw invalidCursor('belongs to another conversation');
  }

  return { conv: c, seq: s, direction: d };
}

function invalidCursor(reason: string): InvalidRequestError {
  return new InvalidRequestError(
    ErrorCode.CursorInvalid,
    `history cursor ${reason}. Pass the nextCursor of a previous page of this conversation, or omit it`,
  );
}
