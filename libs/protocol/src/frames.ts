/** Version of the wire protocol described by these types. */
export const PROTOCOL_VERSION = 1;

/** Kinds of receipt watermark: every message up to `seq` was delivered to, or read by, `user`. */
export type ReceiptKind = 'delivered' | 'read';

// ---------------------------------------------------------------------------
// Client to server

/** Sends a message. `to` names the peer of a one-to-one conversation; `conv` names any conversation. */
export interface SendFrame {
  type: 'send';
  /** Client message id, unique per sender; a retry reuses it. */
  id: string;
  to?: string;
  conv?: string;
  body: string;
}

/** Moves the sender's delivered or read watermark in a conversation forward to `seq`. */
export interface ReceiptRequestFrame {
  type: 'receipt';
  conv: string;
  kind: ReceiptKind;
  seq: number;
}

/** Requests the entries of the caller's sync stream after position `after`. */
export interface SyncRequestFrame {
  type: 'sync';
  /** Optional request id. An `error` in response to the request carries it as `ref`. */
  id?: string;
  after: number;
  limit?: number;
}

/** Requests the messages of one conversation with sequence numbers `from` to `to`, inclusive. */
export interface FetchFrame {
  type: 'fetch';
  /** Optional request id. An `error` in response to the request carries it as `ref`. */
  id?: string;
  conv: string;
  from: number;
  to: number;
}

/** Application-level ping; the node replies with `pong` carrying the same `id`. */
export interface PingFrame {
  type: 'ping';
  id?: string;
}

/** States of a typing indicator: the user started typing, or stopped. */
export type TypingState = 'start' | 'stop';

/**
 * Replaces the connection's presence subscription with `users` (at most
 * `presenceSubscribeMax`, 256 by default); an empty list ends it.
 */
export interface PresenceSubscribeFrame {
  type: 'presence.subscribe';
  users: string[];
}

/** Tells the other members of `conv` that the caller started or stopped typing. Never stored. */
export interface TypingRequestFrame {
  type: 'typing';
  conv: string;
  state: TypingState;
}

/** Whether the app on a connection is in front of its user (`foreground`) or not (`background`). */
export type ActivityState = 'foreground' | 'background';

/**
 * Sets the activity state of this connection; a new connection is `foreground`. A user whose
 * connections on their node are all `background` gets push notifications for new messages.
 */
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

// ---------------------------------------------------------------------------
// Server to client

/** First frame on every connection. */
export interface WelcomeFrame {
  type: 'welcome';
  protocol: number;
  node: string;
  user: string;
  conn: string;
  ringVersion: string;
  /** Highest position in the user's sync stream when the connection opened. */
  head: number;
  limits: ConnectionLimits;
}

/** Limits that the node enforces on this connection. */
export interface ConnectionLimits {
  maxFrameBytes: number;
  maxBodyBytes: number;
  framesPerSecond: number;
  idleTimeoutSeconds: number;
  syncPageMax: number;
  fetchRangeMax: number;
  /** Most users one `presence.subscribe` may name; absent from nodes that predate presence. */
  presenceSubscribeMax?: number;
}

/**
 * Confirms that a sent message is in the durable log.
 *
 * The sending connection then also receives the message itself as a `message` frame, like
 * every other device of both members, so all devices order it through one path.
 */
export interface AckFrame {
  type: 'ack';
  id: string;
  conv: string;
  seq: number;
  ts: number;
}

/** Kinds of group change that a membership event records. */
export type GroupAction = 'created' | 'renamed' | 'added' | 'removed' | 'left' | 'promoted';

/** Kinds of group: in a `channel` only admins post. */
export type GroupKind = 'group' | 'channel';

/**
 * A change of a group, carried by the system message that records it.
 *
 * `from` of that message is the user who made the change, and `users` are the users it
 * affects: the founding members, the added, removed or promoted users, or the leaver.
 */
export interface GroupEvent {
  action: GroupAction;
  users: string[];
  /** The group's name after a `created` or `renamed` event. */
  name?: string;
  /** The kind of group, on `created`. */
  groupKind?: GroupKind;
}

/**
 * A message in a conversation. `pos` is the recipient's sync stream position, when it has one.
 *
 * A message with `event` is a system message that records a group change; its body is empty.
 */
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

/** A member's delivered or read watermark moved forward. */
export interface ReceiptFrame {
  type: 'receipt';
  conv: string;
  user: string;
  kind: ReceiptKind;
  seq: number;
  ts: number;
  pos?: number;
}

/** One page of the caller's sync stream, in position order. */
export interface SyncFrame {
  type: 'sync';
  entries: Array<MessageFrame | ReceiptFrame>;
  /** Position up to which the caller has now seen everything. */
  head: number;
  /** True when more entries follow `head`; the client asks again after `head`. */
  more: boolean;
}

/** Result of a `fetch`: messages found and sequence numbers that hold no message. */
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
  /**
   * The user's stream head, when the node could read it. A client whose position is lower
   * syncs: a live delivery went astray and no later one showed the hole.
   */
  head?: number;
}

/**
 * Reason why live deliveries to a connection were missed. `behind`: its send buffer was full.
 * `ring`: the ring placed the user on another node for a while. `bus`: the node lost its
 * connection to the bus.
 */
export type ResyncReason = 'behind' | 'ring' | 'bus';

/** Live deliveries to this connection were dropped; the client syncs from its last position. */
export interface ResyncFrame {
  type: 'resync';
  reason: ResyncReason;
}

/** The ring places this user on another node; the connection closes with code 4002 next. */
export interface RedirectFrame {
  type: 'redirect';
  node: string;
  url: string;
  ringVersion: string;
}

/** A request failed. `ref` is the `id` of the frame it answers, when the frame had one. */
export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  retryable: boolean;
  ref?: string;
}

/**
 * New messages in a large group or channel, whose bodies are not pushed: every message up to
 * `seq` exists, and the client pulls the ones it lacks with `fetch` or the history API.
 */
export interface NoticeFrame {
  type: 'notice';
  conv: string;
  seq: number;
}

/** Presence of one user: online while any device is connected. */
export interface PresenceEntry {
  user: string;
  online: boolean;
  /** When the user was last online, in milliseconds since the epoch; absent when unknown or hidden. */
  lastSeen?: number;
}

/** Presence of subscribed users: the current state after a subscribe, later the changes. */
export interface PresenceFrame {
  type: 'presence';
  users: PresenceEntry[];
}

/**
 * A member started or stopped typing. A `start` holds for `expiresIn` milliseconds unless
 * another `start` renews it; without either, the receiver treats the user as stopped.
 */
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
