import type { ConversationKind, ReceiptKind } from '@switchboard/protocol';
import type { LogRecord } from './log.ts';

export interface UserRecord {
  id: string;
  /** Unique, lower-case login name. */
  username: string;
  displayName: string;
  /** scrypt hash in the form `scrypt$N$r$p$salt$hash`, base64url parts. */
  passwordHash: string;
  createdAt: number;
}

export interface StoredMessage {
  conv: string;
  seq: number;
  from: string;
  /** Client message id. */
  id: string;
  body: string;
  ts: number;
}

export interface StoredReceipt {
  conv: string;
  user: string;
  receipt: ReceiptKind;
  seq: number;
  ts: number;
}

/** One entry of a user's sync stream. */
export type StreamEntry =
  | { pos: number; kind: 'message'; message: StoredMessage }
  | { pos: number; kind: 'receipt'; receipt: StoredReceipt };

export interface Conversation {
  id: string;
  kind: ConversationKind;
  members: string[];
  createdAt: number;
}

/** A member's watermarks in one conversation. */
export interface MemberState {
  user: string;
  deliveredSeq: number;
  readSeq: number;
}

/** A row of "my conversations". */
export interface ConversationSummary {
  id: string;
  kind: ConversationKind;
  members: string[];
  lastMessage: StoredMessage | null;
  /** Messages from other members after the caller's read watermark. */
  unread: number;
  memberStates: MemberState[];
}

/** Query for one page of history; exactly one of `beforeSeq` and `afterSeq` may be set. */
export interface HistoryQuery {
  /** Return messages with a sequence number below this, newest first. */
  beforeSeq?: number;
  /** Return messages with a sequence number above this, oldest first. */
  afterSeq?: number;
  limit: number;
}

/**
 * Users, conversations, messages and sync streams.
 *
 * `applyRecords` is idempotent: records are keyed by (conversation, sequence number) and by
 * (user, stream position), so a replayed log batch changes nothing.
 */
export interface Store {
  /**
   * Creates a user with the name in lower case; throws a ConflictError with
   * SWB_ERR_USERNAME_TAKEN when the name exists in any case.
   */
  createUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | null>;
  /** Finds a user by name, ignoring case. */
  findUserByName(username: string): Promise<UserRecord | null>;
  /** Lists users whose name starts with `prefix`, ignoring case, by name. */
  searchUsers(prefix: string, limit: number): Promise<UserRecord[]>;

  /** Stores a refresh token by the SHA-256 hash of its value. */
  saveRefreshToken(tokenHash: string, userId: string, expiresAt: number): Promise<void>;
  /** Deletes a refresh token and returns its user, or null when unknown or expired. Single use. */
  consumeRefreshToken(tokenHash: string, now: number): Promise<string | null>;

  /** Creates the one-to-one conversation if it does not exist. */
  ensureDirectConversation(conv: string, members: [string, string], now: number): Promise<void>;
  getConversation(conv: string): Promise<Conversation | null>;
  listConversations(user: string): Promise<ConversationSummary[]>;

  /** Writes a batch of log records idempotently. */
  applyRecords(records: LogRecord[]): Promise<void>;
  history(conv: string, query: HistoryQuery): Promise<StoredMessage[]>;
  /** Returns the stored messages with `from <= seq <= to`, in sequence order. */
  messagesInRange(conv: string, from: number, to: number): Promise<StoredMessage[]>;
  /** Returns up to `limit` sync stream entries with position above `afterPos`, in order. */
  readStream(user: string, afterPos: number, limit: number): Promise<StreamEntry[]>;
  /** Highest stored sequence number of a conversation, 0 when none (counter re-seeding). */
  maxSeq(conv: string): Promise<number>;
  /** Highest stored stream position of a user, 0 when none (counter re-seeding). */
  maxStreamPos(user: string): Promise<number>;
  close(): Promise<void>;
}
