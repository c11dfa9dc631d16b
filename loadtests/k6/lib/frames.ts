/**
 * Wire protocol v1 frames for k6 scripts.
 *
 * k6 bundles each script on its own and cannot resolve the workspace packages, so these
 * shapes are copies of libs/protocol/src/frames.ts. `protocol-check.ts` fails the type check
 * (`make typecheck`) when the copies and the originals drift apart.
 */

export const PROTOCOL_VERSION = 1;

export type ReceiptKind = 'delivered' | 'read';

export interface SendFrame {
  type: 'send';
  id: string;
  to?: string;
  conv?: string;
  body: string;
}

export interface ReceiptRequestFrame {
  type: 'receipt';
  conv: string;
  kind: ReceiptKind;
  seq: number;
}

export interface SyncRequestFrame {
  type: 'sync';
  id?: string;
  after: number;
  limit?: number;
}

export interface FetchFrame {
  type: 'fetch';
  id?: string;
  conv: string;
  from: number;
  to: number;
}

export interface PingFrame {
  type: 'ping';
  id?: string;
}

export type TypingState = 'start' | 'stop';

export interface PresenceSubscribeFrame {
  type: 'presence.subscribe';
  users: string[];
}

export interface TypingRequestFrame {
  type: 'typing';
  conv: string;
  state: TypingState;
}

export type ActivityState = 'foreground' | 'background';

export interface ActivityFrame {
  type: 'activity';
  state: ActivityState;
}

export type ClientFrame =
  | SendFrame
  | ReceiptRequestFrame
  | SyncRequestFrame
  | FetchFrame
  | PingFrame
  | PresenceSubscribeFrame
  | TypingRequestFrame
  | ActivityFrame;

export interface ConnectionLimits {
  maxFrameBytes: number;
  maxBodyBytes: number;
  framesPerSecond: number;
  idleTimeoutSeconds: number;
  syncPageMax: number;
  fetchRangeMax: number;
  presenceSubscribeMax?: number;
}

export interface WelcomeFrame {
  type: 'welcome';
  protocol: number;
  node: string;
  user: string;
  conn: string;
  ringVersion: string;
  head: number;
  limits: ConnectionLimits;
}

export interface AckFrame {
  type: 'ack';
  id: string;
  conv: string;
  seq: number;
  ts: number;
}

export type GroupAction = 'created' | 'renamed' | 'added' | 'removed' | 'left' | 'promoted';

export type GroupKind = 'group' | 'channel';

export interface GroupEvent {
  action: GroupAction;
  users: string[];
  name?: string;
  groupKind?: GroupKind;
}

/** A message; one with `event` is a system message that records a group change, with an empty body. */
export interface MessageFrame {
  type: 'message';
  conv: string;
  seq: number;
  from: string;
  id: string;
  body: string;
  ts: number;
  pos?: number;
  event?: GroupEvent;
}

export interface ReceiptFrame {
  type: 'receipt';
  conv: string;
  user: string;
  kind: ReceiptKind;
  seq: number;
  ts: number;
  pos?: number;
}

export interface SyncFrame {
  type: 'sync';
  entries: Array<MessageFrame | ReceiptFrame>;
  head: number;
  more: boolean;
}

export interface FetchedFrame {
  type: 'fetched';
  conv: string;
  messages: MessageFrame[];
  missing: number[];
}

export interface PongFrame {
  type: 'pong';
  id?: string;
  ts: number;
  head?: number;
}

export type ResyncReason = 'behind' | 'ring' | 'bus';

export interface ResyncFrame {
  type: 'resync';
  reason: ResyncReason;
}

export interface RedirectFrame {
  type: 'redirect';
  node: string;
  url: string;
  ringVersion: string;
}

export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  retryable: boolean;
  ref?: string;
}

/** New messages up to `seq` in a large group or channel; the client pulls them with `fetch`. */
export interface NoticeFrame {
  type: 'notice';
  conv: string;
  seq: number;
}

export interface PresenceEntry {
  user: string;
  online: boolean;
  lastSeen?: number;
}

export interface PresenceFrame {
  type: 'presence';
  users: PresenceEntry[];
}

export interface TypingFrame {
  type: 'typing';
  conv: string;
  user: string;
  state: TypingState;
  expiresIn?: number;
}

export type ServerFrame =
  | WelcomeFrame
  | AckFrame
  | MessageFrame
  | ReceiptFrame
  | SyncFrame
  | FetchedFrame
  | PongFrame
  | ResyncFrame
  | RedirectFrame
  | ErrorFrame
  | NoticeFrame
  | PresenceFrame
  | TypingFrame;

/** Close code 4002: the ring places the user on another node; ask the router again. */
export const CLOSE_WRONG_NODE = 4002;
/** Close code 4003: the node is draining; ask the router again after a short random delay. */
export const CLOSE_NODE_DRAINING = 4003;

/** Serialises a client frame as one WebSocket text message. */
export function encodeFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}

/**
 * Parses one server text message. Returns null for anything that is not a JSON object with a
 * string `type`, so a script counts it as a protocol error instead of throwing inside a handler.
 */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  if (typeof (value as { type?: unknown }).type !== 'string') return null;
  return value as ServerFrame;
}

/**
 * Builds a message body of exactly `bytes` ASCII bytes that starts with the send time and a
 * per-sender counter, `<ms since epoch>|<counter>#`, padded with `x`. Receivers read both back
 * with `parseBody` to measure send-to-deliver latency and to check order.
 */
export function buildBody(sentAtMs: number, counter: number, bytes: number): string {
  const head = `${sentAtMs}|${counter}#`;
  if (head.length >= bytes) return head;
  let padding = '';
  while (padding.length < bytes - head.length) padding += 'xxxxxxxxxxxxxxxx';
  return head + padding.slice(0, bytes - head.length);
}

/** Reads the send time and counter from a body built by `buildBody`, or null for any other body. */
export function parseBody(body: string): { sentAtMs: number; counter: number } | null {
  const bar = body.indexOf('|');
  const hash = body.indexOf('#');
  if (bar <= 0 || hash <= bar) return null;
  const sentAtMs = Number(body.slice(0, bar));
  const counter = Number(body.slice(bar + 1, hash));
  if (!Number.isFinite(sentAtMs) || !Number.isInteger(counter)) return null;
  return { sentAtMs, counter };
}
