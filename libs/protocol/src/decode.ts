import { ErrorCode } from './codes.ts';
import type { ClientFrame, FetchFrame, ServerFrame, SyncRequestFrame } from './frames.ts';
import { isConversationId, isId } from './ids.ts';

/** Limits that the client frame decoder applies. */
export interface DecodeLimits {
  maxBodyBytes: number;
  syncPageMax: number;
  fetchRangeMax: number;
  /** Most users in one `presence.subscribe`; DEFAULT_PRESENCE_SUBSCRIBE_MAX when absent. */
  presenceSubscribeMax?: number;
}

/** Default of the most users one `presence.subscribe` may name. */
export const DEFAULT_PRESENCE_SUBSCRIBE_MAX = 256;

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBodyBytes: 4096,
  syncPageMax: 500,
  fetchRangeMax: 100,
  presenceSubscribeMax: DEFAULT_PRESENCE_SUBSCRIBE_MAX,
};

/** Outcome of decoding one frame: the frame, or a stable error code and a message. */
export type DecodeResult<T> =
  { ok: true; frame: T } | { ok: false; code: ErrorCode; message: string; ref?: string };

const utf8 = new TextEncoder();
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

function fail(code: ErrorCode, message: string, ref?: string): DecodeResult<never> {
  return ref === undefined ? { ok: false, code, message } : { ok: false, code, message, ref };
}

function isSequence(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_SEQUENCE;
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[]): string | null {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) return key;
  }
  return null;
}

/**
 * Decodes one text frame from a client into a typed frame.
 *
 * Every field is checked here, so the node trusts a decoded frame. Unknown fields are
 * rejected so that a client typo fails loudly instead of being ignored.
 */
export function decodeClientFrame(
  text: string,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): DecodeResult<ClientFrame> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(ErrorCode.FrameMalformed, 'frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(ErrorCode.FrameMalformed, 'frame must be a JSON object');
  }
  const obj = value as Record<string, unknown>;
  const ref = typeof obj.id === 'string' && obj.id.length <= 64 ? obj.id : undefined;

  switch (obj.type) {
    case 'send':
      return decodeSend(obj, limits, ref);
    case 'receipt':
      return decodeReceipt(obj);
    case 'sync':
      return decodeSync(obj, limits);
    case 'fetch':
      return decodeFetch(obj, limits);
    case 'ping':
      return decodePing(obj);
    case 'presence.subscribe':
      return decodePresenceSubscribe(obj, limits);
    case 'typing':
      return decodeTyping(obj);
    case 'activity':
      return decodeActivity(obj);
    default:
      return fail(
        ErrorCode.FrameUnknownType,
        `frame type must be one of send, receipt, sync, fetch, ping, presence.subscribe, typing, activity; got ${describe(obj.type)}`,
        ref,
      );
  }
}

function decodeSend(
  obj: Record<string, unknown>,
  limits: DecodeLimits,
  ref: string | undefined,
): DecodeResult<ClientFrame> {
  const extra = checkKeys(obj, ['type', 'id', 'to', 'conv', 'body']);
  if (extra !== null) return fail(ErrorCode.FrameInvalidField, `send has unknown field "${extra}"`, ref);
  if (!isId(obj.id)) {
    return fail(ErrorCode.FrameInvalidField, 'send.id must be 1-64 characters of A-Z a-z 0-9 _ -', ref);
  }
  const hasTo = obj.to !== undefined;
  const hasConv = obj.conv !== undefined;
  if (hasTo === hasConv) {
    return fail(ErrorCode.FrameInvalidField, 'send needs exactly one of "to" or "conv"', ref);
  }
  if (hasTo && !isId(obj.to)) return fail(ErrorCode.FrameInvalidField, 'send.to must be a user id', ref);
  if (hasConv && !isConversationId(obj.conv)) {
    return fail(ErrorCode.FrameInvalidField, 'send.conv must be a conversation id', ref);
  }
  if (typeof obj.body !== 'string')
    return fail(ErrorCode.FrameInvalidField, 'send.body must be a string', ref);
  if (obj.body.trim().length === 0) return fail(ErrorCode.BodyEmpty, 'send.body must not be empty', ref);
  // A JSON escape such as "\ud800" yields a lone surrogate, which has no UTF-8 encoding.
  if (!obj.body.isWellFormed()) {
    return fail(ErrorCode.FrameInvalidUtf8, 'send.body contains a lone UTF-16 surrogate', ref);
  }
  const bytes = utf8.encode(obj.body).length;
  if (bytes > limits.maxBodyBytes) {
    return fail(
      ErrorCode.BodyTooLarge,
      `send.body is ${bytes} bytes; the limit (maxBodyBytes) is ${limits.maxBodyBytes}`,
      ref,
    );
  }
  const frame: ClientFrame = hasTo
    ? { type: 'send', id: obj.id, to: obj.to as string, body: obj.body }
    : { type: 'send', id: obj.id, conv: obj.conv as string, body: obj.body };
  return { ok: true, frame };
}

function decodeReceipt(obj: Record<string, unknown>): DecodeResult<ClientFrame> {
  const extra = checkKeys(obj, ['type', 'conv', 'kind', 'seq']);
  if (extra !== null) return fail(ErrorCode.FrameInvalidField, `receipt has unknown field "${extra}"`);
  if (!isConversationId(obj.conv))
    return fail(ErrorCode.FrameInvalidField, 'receipt.conv must be a conversation id');
  if (obj.kind !== 'delivered' && obj.kind !== 'read') {
    return fail(ErrorCode.FrameInvalidField, 'receipt.kind must be "delivered" or "read"');
  }
  if (!isSequence(obj.seq) || obj.seq < 1) {
    return fail(ErrorCode.FrameInvalidField, 'receipt.seq must be a positive integer');
  }
  return { ok: true, frame: { type: 'receipt', conv: obj.conv, kind: obj.kind, seq: obj.seq } };
}

function decodeSync(obj: Record<string, unknown>, limits: DecodeLimits): DecodeResult<ClientFrame> {
  if (obj.id !== undefined && !isId(obj.id)) {
    return fail(ErrorCode.FrameInvalidField, 'sync.id must be 1-64 characters of A-Z a-z 0-9 _ -');
  }
  const ref = obj.id;
  const extra = checkKeys(obj, ['type', 'id', 'after', 'limit']);
  if (extra !== null) return fail(ErrorCode.FrameInvalidField, `sync has unknown field "${extra}"`, ref);
  if (!isSequence(obj.after)) {
    return fail(ErrorCode.FrameInvalidField, 'sync.after must be an integer >= 0', ref);
  }
  if (
    obj.limit !== undefined &&
    (!isSequence(obj.limit) || obj.limit < 1 || obj.limit > limits.syncPageMax)
  ) {
    return fail(
      ErrorCode.FrameInvalidField,
      `sync.limit must be an integer from 1 to ${limits.syncPageMax}`,
      ref,
    );
  }
  const frame: SyncRequestFrame = { type: 'sync', after: obj.after };
  if (ref !== undefined) frame.id = ref;
  if (obj.limit !== undefined) frame.limit = obj.limit;
  return { ok: true, frame };
}

function decodeFetch(obj: Record<string, unknown>, limits: DecodeLimits): DecodeResult<ClientFrame> {
  if (obj.id !== undefined && !isId(obj.id)) {
    return fail(ErrorCode.FrameInvalidField, 'fetch.id must be 1-64 characters of A-Z a-z 0-9 _ -');
  }
  const ref = obj.id;
  const extra = checkKeys(obj, ['type', 'id', 'conv', 'from', 'to']);
  if (extra !== null) return fail(ErrorCode.FrameInvalidField, `fetch has unknown field "${extra}"`, ref);
  if (!isConversationId(obj.conv))
    return fail(ErrorCode.FrameInvalidField, 'fetch.conv must be a conversation id', ref);
  if (!isSequence(obj.from) || obj.from < 1 || !isSequence(obj.to) || obj.to < obj.from) {
    return fail(
      ErrorCode.FrameInvalidField,
      'fetch.from and fetch.to must be integers with 1 <= from <= to',
      ref,
    );
  }
  if (obj.to - obj.from + 1 > limits.fetchRangeMax) {
    return fail(
      ErrorCode.FrameInvalidField,
      `fetch may span at most ${limits.fetchRangeMax} sequence numbers`,
      ref,
    );
  }
  const frame: FetchFrame = { type: 'fetch', conv: obj.conv, from: obj.from, to: obj.to };
  if (ref !== undefined) frame.id = ref;
  return { ok: true, frame };
}

function decodePing(obj: Record<string, unknown>): DecodeResult<ClientFrame> {
  const extra = checkKeys(obj, ['type', 'id']);
  if (extra !== null) return fail(ErrorCode.FrameInvalidField, `ping has unknown field "${extra}"`);
  if (obj.id === undefined) return { ok: true, frame: { type: 'ping' } };
  if (!isId(obj.id))
    return fail(ErrorCode.FrameInvalidField, 'ping.id must be 1-64 characters of A-Z a-z 0-9 _ -');
  return { ok: true, frame: { type: 'ping', id: obj.id } };
}

function decodePresenceSubscribe(
  obj: Record<string, unknown>,
  limits: DecodeLimits,
): DecodeResult<ClientFrame> {
  const extra = checkKeys(obj, ['type', 'users']);
  if (extra !== null) {
    return fail(ErrorCode.FrameInvalidField, `presence.subscribe has unknown field "${extra}"`);
  }
  const max = limits.presenceSubscribeMax ?? DEFAULT_PRESENCE_SUBSCRIBE_MAX;
  if (!Array.isArray(obj.users)) {
    return fail(ErrorCode.FrameInvalidField, 'presence.subscribe.users must be an array of user ids');
  }
  if (obj.users.length > max) {
    return fail(
      ErrorCode.FrameInvalidField,
      `presence.subscribe.users names ${obj.users.length} users; the limit (presenceSubscribeMax) is ${max}`,
    );
  }
  const seen = new Set<string>();
  for (const user of obj.users) {
    if (!isId(user)) {
      return fail(ErrorCode.FrameInvalidField, 'presence.subscribe.users must contain only user ids');
    }
    if (seen.has(user)) {
      return fail(ErrorCode.FrameInvalidField, `presence.subscribe.users names ${user} twice`);
    }
    seen.add(user);
  }
  return { ok: true, frame: { type: 'presence.subscribe', users: [...seen] } };
}

function decodeTyping(obj: Record<string, unknown>): DecodeResult<ClientFrame> {
  const extra = checkKeys(obj, ['type', 'conv', 'state']);
  if (extra !== null) return fail(ErrorCode.FrameInvalidField, `typing has unknown field "${extra}"`);
  if (!isConversationId(obj.conv)) {
    return fail(ErrorCode.FrameInvalidField, 'typing.conv must be a conversation id');
  }
  if (obj.state !== 'start' && obj.state !== 'stop') {
    return fail(ErrorCode.FrameInvalidField, 'typing.state must be "start" or "stop"');
  }
  return { ok: true, frame: { type: 'typing', conv: obj.conv, state: obj.state } };
}

function decodeActivity(obj: Record<string, unknown>): DecodeResult<ClientFrame> {
  const extra = checkKeys(obj, ['type', 'state']);
  if (extra !== null) return fail(ErrorCode.FrameInvalidField, `activity has unknown field "${extra}"`);
  if (obj.state !== 'foreground' && obj.state !== 'background') {
    return fail(ErrorCode.FrameInvalidField, 'activity.state must be "foreground" or "background"');
  }
  return { ok: true, frame: { type: 'activity', state: obj.state } };
}

const SERVER_TYPES = new Set([
  'welcome',
  'ack',
  'message',
  'receipt',
  'sync',
  'fetched',
  'pong',
  'resync',
  'redirect',
  'error',
  'notice',
  'presence',
  'typing',
]);

/**
 * Decodes one text frame from a node.
 *
 * The client checks the envelope only: the node is trusted to send well-formed frames, and
 * a frame of a type this version does not know is reported instead of guessed at.
 */
export function decodeServerFrame(text: string): DecodeResult<ServerFrame> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(ErrorCode.FrameMalformed, 'frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(ErrorCode.FrameMalformed, 'frame must be a JSON object');
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !SERVER_TYPES.has(type)) {
    return fail(ErrorCode.FrameUnknownType, `unknown server frame type ${describe(type)}`);
  }
  return { ok: true, frame: value as ServerFrame };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 32));
  return typeof value;
}
