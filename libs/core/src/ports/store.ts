import type { ConversationKind, GroupEvent, GroupKind, ReceiptKind } from '@switchboard/protocol';
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
  /** The group change that this system message records. */
  event?: GroupEvent;
  /** A user who blocked the sender of this one-to-one message and must never see it. */
  hiddenFrom?: string;
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
  /** Name and kind of a group; absent for one-to-one conversations. */
  group?: { name: string; kind: GroupKind };
}

/** Query for one page of history; exactly one of `beforeSeq` and `afterSeq` may be set. */
export interface HistoryQuery {
  /** Return messages with a sequence number below this, newest first. */
  beforeSeq?: number;
  /** Return messages with a sequence number above this, oldest first. */
  afterSeq?: number;
  limit: number;
}

/** Roles in a group: admins change the group and, in a channel, are the only ones who post. */
export type GroupRole = 'admin' | 'member';

/** A group's own data; its conversation id is `conv`, `g.<group id>`. */
export interface GroupRecord {
  conv: string;
  kind: GroupKind;
  name: string;
  createdBy: string;
  createdAt: number;
  /**
   * Token that changes with every membership write, so a cached member list can tell by one
   * read whether it is still current.
   */
  version: string;
}

/**
 * One user's membership of a group, past or present.
 *
 * A member reads messages from `joinedSeq` on, and a former member those from `joinedSeq` to
 * `leftSeq`. Adding and removing take the event's sequence number only after the member row
 * changed, so the row first records the change as in flight.
 */
export interface GroupMember {
  user: string;
  role: GroupRole;
  /**
   * Sequence number of the event that added the user, 0 for the founding members, or null
   * while the addition is in flight (the user reads and receives nothing yet).
   */
  joinedSeq: number | null;
  /**
   * Null while the user is a member. For a former member, the sequence number of the event
   * that removed them, or 0 while that removal is in flight.
   */
  leftSeq: number | null;
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

  /**
   * Creates a group: its conversation (kind `group`), its record and its member rows.
   * Throws a ConflictError with SWB_ERR_ID_CONFLICT when the conversation exists.
   */
  createGroup(group: GroupRecord, members: GroupMember[]): Promise<void>;
  getGroup(conv: string): Promise<GroupRecord | null>;
  /** Changes the name of an existing group. */
  renameGroup(conv: string, name: string): Promise<void>;
  /**
   * Writes member rows, replacing those of the same users, and sets the group's version.
   *
   * `getConversation` then lists as members the users whose row has `leftSeq` null and
   * `joinedSeq` set, and `listConversations` shows the group to them only.
   */
  saveGroupMembers(conv: string, members: GroupMember[], version: string): Promise<void>;
  /** Returns every member row of a group, former members included, ordered by user id. */
  listGroupMembers(conv: string): Promise<GroupMember[]>;
  getGroupMember(conv: string, user: string): Promise<GroupMember | null>;

  /** Records that `blocker` blocks `blocked`; blocking twice changes nothing. */
  blockUser(blocker: string, blocked: string, now: number): Promise<void>;
  /** Removes the block, if any. */
  unblockUser(blocker: string, blocked: string): Promise<void>;
  /** Lists the users that `blocker` blocks, by id. */
  listBlocked(blocker: string): Promise<string[]>;
  /** Lists the users who block `blocked`, by id. */
  listBlockers(blocked: string): Promise<string[]>;
  /** Returns whether `blocker` blocks `blocked`; a point read for the message path. */
  isBlocked(blocker: string, blocked: string): Promise<boolean>;
  close(): Promise<void>;
}
