import type { Database, Statement } from 'better-sqlite3';
import {
  ConflictError,
  InvalidRequestError,
  type Conversation,
  type ConversationSummary,
  type GroupMember,
  type GroupRecord,
  type HistoryQuery,
  type LogRecord,
  type MessageRecord,
  type ReceiptRecord,
  type Store,
  type StoredMessage,
  type StreamEntry,
  type UserRecord,
} from '@switchboard/core';
import {
  ErrorCode,
  conversationKind,
  directMembers,
  type ConversationKind,
  type GroupKind,
} from '@switchboard/protocol';
import { BoundedSet } from './bounded-set.ts';
import {
  readStreamEntry,
  toGroupMember,
  toStoredMessage,
  toUserRecord,
  type GroupMemberRow,
  type MessageRow,
  type StreamRow,
  type UserRow,
} from './sqlite-rows.ts';

interface ConversationRow {
  id: string;
  kind: ConversationKind;
  created_at: number;
}

interface MemberRow {
  user: string;
  delivered_seq: number;
  read_seq: number;
}

interface GroupRow {
  conv: string;
  kind: GroupKind;
  name: string;
  created_by: string;
  created_at: number;
  version: string;
}

/** The highest code point, so that `prefix + MAX_CHAR` sorts after every name with that prefix. */
const MAX_CHAR = '\u{10FFFF}';

/**
 * The Store of the embedded profile, over one SQLite database shared with SqliteSequencer.
 *
 * Every statement is prepared once, and each write that touches several rows runs in one
 * IMMEDIATE transaction, so another process on the same file cannot interleave with it.
 */
export class SqliteStore implements Store {
  readonly #release: () => void;
  readonly #statements;
  readonly #applyRecords: (records: LogRecord[]) => BatchHeads;
  readonly #ensureDirect: (conv: string, members: [string, string], now: number) => void;
  readonly #createGroup: (group: GroupRecord, members: GroupMember[]) => void;
  readonly #saveGroupMembers: (conv: string, members: GroupMember[], version: string) => void;
  /** Conversations whose row this process has seen, so that applying a record skips inserting it. */
  readonly #knownConversations = new BoundedSet(100_000);

  constructor(db: Database, release: () => void) {
    this.#release = release;
    this.#statements = prepareStatements(db);
    this.#applyRecords = db.transaction((records: LogRecord[]) => {
      const heads: BatchHeads = { lastSeqs: new Map(), streamHeads: new Map(), newConversations: [] };
      for (const record of records) {
        if (record.kind === 'message') this.#applyMessage(record, heads);
        else this.#applyReceipt(record, heads);
      }
      // One counter write per conversation and user for the whole batch, not one per record.
      for (const [conv, seq] of heads.lastSeqs) this.#statements.raiseLastSeq.run(seq, conv);
      for (const [user, pos] of heads.streamHeads) this.#statements.raiseStreamHead.run(user, pos);
      return heads;
    }).immediate;
    this.#ensureDirect = db.transaction((conv: string, members: [string, string], now: number) => {
      this.#statements.insertConversation.run(conv, 'direct', now);
      for (const user of members) this.#statements.insertMember.run(conv, user, now);
    }).immediate;
    this.#createGroup = db.transaction((group: GroupRecord, members: GroupMember[]) => {
      if (this.#statements.conversationById.get(group.conv) !== undefined) {
        throw new ConflictError(ErrorCode.IdConflict, `conversation ${group.conv} already exists`);
      }
      this.#statements.insertConversation.run(group.conv, 'group', group.createdAt);
      this.#statements.insertGroup.run(
        group.conv,
        group.kind,
        group.name,
        group.createdBy,
        group.createdAt,
        group.version,
      );
      for (const member of members) this.#upsertGroupMember(group.conv, member, group.createdAt);
    }).immediate;
    this.#saveGroupMembers = db.transaction((conv: string, members: GroupMember[], version: string) => {
      const now = Date.now();
      for (const member of members) this.#upsertGroupMember(conv, member, now);
      this.#statements.setGroupVersion.run(version, conv);
    }).immediate;
  }

  async createUser(user: UserRecord): Promise<void> {
    const username = user.username.toLowerCase();
    try {
      this.#statements.insertUser.run(user.id, username, user.displayName, user.passwordHash, user.createdAt);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ConflictError(ErrorCode.UsernameTaken, `username ${username} is already taken`);
      }
      throw err;
    }
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const row = this.#statements.userById.get(id);
    return row === undefined ? null : toUserRecord(row);
  }

  async findUserByName(username: string): Promise<UserRecord | null> {
    const row = this.#statements.userByName.get(username.toLowerCase());
    return row === undefined ? null : toUserRecord(row);
  }

  async searchUsers(prefix: string, limit: number): Promise<UserRecord[]> {
    if (!(limit > 0)) return [];
    const from = prefix.toLowerCase();
    return this.#statements.usersInRange.all(from, from + MAX_CHAR, Math.floor(limit)).map(toUserRecord);
  }

  async saveRefreshToken(tokenHash: string, userId: string, expiresAt: number): Promise<void> {
    this.#statements.insertRefreshToken.run(tokenHash, userId, expiresAt);
  }

  async consumeRefreshToken(tokenHash: string, now: number): Promise<string | null> {
    // DELETE ... RETURNING is one statement, so two concurrent uses cannot both succeed.
    const row = this.#statements.deleteRefreshToken.get(tokenHash);
    // Expired tokens are dropped here, by the caller's clock, rather than by a timer.
    this.#statements.pruneRefreshTokens.run(now);
    if (row === undefined || row.expires_at <= now) return null;
    return row.user_id;
  }

  async ensureDirectConversation(conv: string, members: [string, string], now: number): Promise<void> {
    if (conversationKind(conv) !== 'direct') {
      throw new InvalidRequestError(ErrorCode.RequestInvalid, `conversation ${conv} is not a one-to-one id`);
    }
    this.#ensureDirect(conv, members, now);
  }

  async getConversation(conv: string): Promise<Conversation | null> {
    const row = this.#statements.conversationById.get(conv);
    if (row === undefined) return null;
    const members = this.#statements.membersOf.all(conv).map((member) => member.user);
    return { id: row.id, kind: row.kind, members, createdAt: row.created_at };
  }

  async listConversations(user: string): Promise<ConversationSummary[]> {
    const rows = this.#statements.conversationsOfUser.all(user);
    const summaries = rows.map((row) => {
      const members = this.#statements.membersOf.all(row.id);
      const last = this.#statements.lastMessage.get(row.id, user);
      const { unread } = this.#statements.unreadCount.get(row.id, row.read_seq, user, user)!;
      const summary: ConversationSummary = {
        id: row.id,
        kind: row.kind,
        members: members.map((member) => member.user),
        lastMessage: last === undefined ? null : toStoredMessage(last),
        unread,
        memberStates: members.map((member) => ({
          user: member.user,
          deliveredSeq: member.delivered_seq,
          readSeq: member.read_seq,
        })),
      };
      if (row.group_name !== null && row.group_kind !== null) {
        summary.group = { name: row.group_name, kind: row.group_kind };
      }
      return { summary, activity: last?.ts ?? row.created_at };
    });
    summaries.sort((a, b) => b.activity - a.activity || compareText(a.summary.id, b.summary.id));
    return summaries.map((entry) => entry.summary);
  }

  async applyRecords(records: LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const { newConversations } = this.#applyRecords(records);
    for (const conv of newConversations) this.#knownConversations.add(conv);
  }

  /** Returns one page: newest first below `beforeSeq`, oldest first above `afterSeq`, else the newest page. */
  async history(conv: string, query: HistoryQuery): Promise<StoredMessage[]> {
    if (query.beforeSeq !== undefined && query.afterSeq !== undefined) {
      throw new InvalidRequestError(
        ErrorCode.RequestInvalid,
        'history query sets both beforeSeq and afterSeq',
      );
    }
    // SQLite reads a negative LIMIT as no limit at all.
    if (!(query.limit > 0)) return [];
    const limit = Math.floor(query.limit);

    let rows: MessageRow[];
    if (query.afterSeq !== undefined) rows = this.#statements.historyAfter.all(conv, query.afterSeq, limit);
    else if (query.beforeSeq !== undefined)
      rows = this.#statements.historyBefore.all(conv, query.beforeSeq, limit);
    else rows = this.#statements.historyLatest.all(conv, limit);
    return rows.map(toStoredMessage);
  }

  async messagesInRange(conv: string, from: number, to: number): Promise<StoredMessage[]> {
    return this.#statements.messagesInRange.all(conv, from, to).map(toStoredMessage);
  }

  async readStream(user: string, afterPos: number, limit: number): Promise<StreamEntry[]> {
    if (!(limit > 0)) return [];
    const rows = this.#statements.streamAfter.all(user, afterPos, Math.floor(limit));
    return rows.map(readStreamEntry).filter((entry): entry is StreamEntry => entry !== null);
  }

  async maxSeq(conv: string): Promise<number> {
    return this.#statements.maxSeq.get(conv)!.value;
  }

  async maxStreamPos(user: string): Promise<number> {
    return this.#statements.maxStreamPos.get(user)!.value;
  }

  async createGroup(group: GroupRecord, members: GroupMember[]): Promise<void> {
    if (conversationKind(group.conv) !== 'group') {
      throw new InvalidRequestError(ErrorCode.RequestInvalid, `conversation ${group.conv} is not a group id`);
    }
    this.#createGroup(group, members);
  }

  async getGroup(conv: string): Promise<GroupRecord | null> {
    const row = this.#statements.groupById.get(conv);
    if (row === undefined) return null;
    return {
      conv: row.conv,
      kind: row.kind,
      name: row.name,
      createdBy: row.created_by,
      createdAt: row.created_at,
      version: row.version,
    };
  }

  async renameGroup(conv: string, name: string): Promise<void> {
    this.#statements.renameGroup.run(name, conv);
  }

  async saveGroupMembers(conv: string, members: GroupMember[], version: string): Promise<void> {
    this.#saveGroupMembers(conv, members, version);
  }

  async listGroupMembers(conv: string): Promise<GroupMember[]> {
    return this.#statements.groupMembers.all(conv).map(toGroupMember);
  }

  async getGroupMember(conv: string, user: string): Promise<GroupMember | null> {
    const row = this.#statements.groupMember.get(conv, user);
    return row === undefined ? null : toGroupMember(row);
  }

  async blockUser(blocker: string, blocked: string, now: number): Promise<void> {
    this.#statements.insertBlock.run(blocker, blocked, now);
  }

  async unblockUser(blocker: string, blocked: string): Promise<void> {
    this.#statements.deleteBlock.run(blocker, blocked);
  }

  async listBlocked(blocker: string): Promise<string[]> {
    return this.#statements.blockedBy.all(blocker).map((row) => row.blocked);
  }

  async listBlockers(blocked: string): Promise<string[]> {
    return this.#statements.blockersOf.all(blocked).map((row) => row.blocker);
  }

  async isBlocked(blocker: string, blocked: string): Promise<boolean> {
    return this.#statements.blockExists.get(blocker, blocked) !== undefined;
  }

  async close(): Promise<void> {
    this.#release();
  }

  #upsertGroupMember(conv: string, member: GroupMember, now: number): void {
    this.#statements.upsertGroupMember.run(
      conv,
      member.user,
      now,
      member.role,
      member.joinedSeq,
      member.leftSeq,
    );
  }

  #applyMessage(record: MessageRecord, heads: BatchHeads): void {
    const statements = this.#statements;
    // Replaying the log into an empty store recreates the conversation row, so that its
    // counter starts above the replayed messages. Rows are never deleted, so once is enough.
    if (!this.#knownConversations.has(record.conv)) {
      statements.insertConversation.run(record.conv, conversationKind(record.conv), record.ts);
      for (const user of directMembers(record.conv) ?? []) {
        statements.insertMember.run(record.conv, user, record.ts);
      }
      heads.newConversations.push(record.conv);
    }

    statements.insertMessage.run(
      record.conv,
      record.seq,
      record.from,
      record.id,
      record.body,
      record.ts,
      record.event === undefined ? null : JSON.stringify(record.event),
      record.hiddenFrom ?? null,
    );
    raiseTo(heads.lastSeqs, record.conv, record.seq);
    for (const target of record.targets) {
      statements.insertStreamEntry.run(
        target.user,
        target.pos,
        record.conv,
        'message',
        record.seq,
        record.from,
        null,
        record.ts,
      );
      raiseTo(heads.streamHeads, target.user, target.pos);
    }
  }

  #applyReceipt(record: ReceiptRecord, heads: BatchHeads): void {
    const statements = this.#statements;
    const raise = record.receipt === 'read' ? statements.raiseReadSeq : statements.raiseDeliveredSeq;
    raise.run(record.seq, record.conv, record.user);
    for (const target of record.targets) {
      statements.insertStreamEntry.run(
        target.user,
        target.pos,
        record.conv,
        'receipt',
        record.seq,
        record.user,
        record.receipt,
        record.ts,
      );
      raiseTo(heads.streamHeads, target.user, target.pos);
    }
  }
}

/** The highest sequence number per conversation and stream position per user in one batch. */
interface BatchHeads {
  lastSeqs: Map<string, number>;
  streamHeads: Map<string, number>;
  /** Conversations whose row the batch inserted or found; known only once the batch commits. */
  newConversations: string[];
}

function raiseTo(heads: Map<string, number>, key: string, value: number): void {
  if (value > (heads.get(key) ?? -1)) heads.set(key, value);
}

function compareText(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}

function prepareStatements(db: Database) {
  const prepare = <P extends unknown[], R = unknown>(sql: string): Statement<P, R> => db.prepare<P, R>(sql);
  return {
    insertUser: prepare<[string, string, string, string, number]>(
      'INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    userById: prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
    userByName: prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?'),
    usersInRange: prepare<[string, string, number], UserRow>(
      'SELECT * FROM users WHERE username >= ? AND username < ? ORDER BY username LIMIT ?',
    ),

    insertRefreshToken: prepare<[string, string, number]>(
      'INSERT OR REPLACE INTO refresh_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)',
    ),
    pruneRefreshTokens: prepare<[number]>('DELETE FROM refresh_tokens WHERE expires_at <= ?'),
    deleteRefreshToken: prepare<[string], { user_id: string; expires_at: number }>(
      'DELETE FROM refresh_tokens WHERE token_hash = ? RETURNING user_id, expires_at',
    ),

    insertConversation: prepare<[string, ConversationKind, number]>(
      'INSERT OR IGNORE INTO conversations (id, kind, created_at) VALUES (?, ?, ?)',
    ),
    insertMember: prepare<[string, string, number]>(
      'INSERT OR IGNORE INTO members (conv, user, joined_at) VALUES (?, ?, ?)',
    ),
    conversationById: prepare<[string], ConversationRow>(
      'SELECT id, kind, created_at FROM conversations WHERE id = ?',
    ),
    // Current members only: a group member whose addition is in flight or who left is not one.
    membersOf: prepare<[string], MemberRow>(
      `SELECT user, delivered_seq, read_seq FROM members
       WHERE conv = ? AND left_seq IS NULL AND joined_seq IS NOT NULL ORDER BY user`,
    ),
    conversationsOfUser: prepare<
      [string],
      ConversationRow & { read_seq: number; group_name: string | null; group_kind: GroupKind | null }
    >(
      `SELECT c.id, c.kind, c.created_at, m.read_seq, g.name AS group_name, g.kind AS group_kind
       FROM members m JOIN conversations c ON c.id = m.conv LEFT JOIN groups g ON g.conv = m.conv
       WHERE m.user = ? AND m.left_seq IS NULL AND m.joined_seq IS NOT NULL`,
    ),
    lastMessage: prepare<[string, string], MessageRow>(
      `SELECT * FROM messages WHERE conv = ? AND (hidden_from IS NULL OR hidden_from <> ?)
       ORDER BY seq DESC LIMIT 1`,
    ),
    // System messages of group changes are not unread messages.
    unreadCount: prepare<[string, number, string, string], { unread: number }>(
      `SELECT COUNT(*) AS unread FROM messages
       WHERE conv = ? AND seq > ? AND sender <> ? AND event IS NULL
         AND (hidden_from IS NULL OR hidden_from <> ?)`,
    ),

    insertGroup: prepare<[string, GroupKind, string, string, number, string]>(
      'INSERT INTO groups (conv, kind, name, created_by, created_at, version) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    groupById: prepare<[string], GroupRow>('SELECT * FROM groups WHERE conv = ?'),
    renameGroup: prepare<[string, string]>('UPDATE groups SET name = ? WHERE conv = ?'),
    setGroupVersion: prepare<[string, string]>('UPDATE groups SET version = ? WHERE conv = ?'),
    upsertGroupMember: prepare<[string, string, number, string, number | null, number | null]>(
      `INSERT INTO members (conv, user, joined_at, role, joined_seq, left_seq) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (conv, user) DO UPDATE
       SET role = excluded.role, joined_seq = excluded.joined_seq, left_seq = excluded.left_seq`,
    ),
    groupMembers: prepare<[string], GroupMemberRow>(
      'SELECT user, role, joined_seq, left_seq FROM members WHERE conv = ? ORDER BY user',
    ),
    groupMember: prepare<[string, string], GroupMemberRow>(
      'SELECT user, role, joined_seq, left_seq FROM members WHERE conv = ? AND user = ?',
    ),

    insertBlock: prepare<[string, string, number]>(
      'INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?, ?, ?)',
    ),
    deleteBlock: prepare<[string, string]>('DELETE FROM blocks WHERE blocker = ? AND blocked = ?'),
    blockExists: prepare<[string, string], { found: number }>(
      'SELECT 1 AS found FROM blocks WHERE blocker = ? AND blocked = ?',
    ),
    blockedBy: prepare<[string], { blocked: string }>(
      'SELECT blocked FROM blocks WHERE blocker = ? ORDER BY blocked',
    ),
    blockersOf: prepare<[string], { blocker: string }>(
      'SELECT blocker FROM blocks WHERE blocked = ? ORDER BY blocker',
    ),

    insertMessage: prepare<[string, number, string, string, string, number, string | null, string | null]>(
      `INSERT OR IGNORE INTO messages (conv, seq, sender, client_id, body, ts, event, hidden_from)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    raiseLastSeq: prepare<[number, string]>(
      'UPDATE conversations SET last_seq = MAX(last_seq, ?) WHERE id = ?',
    ),
    insertStreamEntry: prepare<[string, number, string, string, number, string, string | null, number]>(
      `INSERT OR IGNORE INTO stream (user, pos, conv, kind, seq, actor, receipt, ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    raiseStreamHead: prepare<[string, number]>(
      `INSERT INTO stream_heads (user, head) VALUES (?, ?)
       ON CONFLICT (user) DO UPDATE SET head = MAX(head, excluded.head)`,
    ),
    raiseDeliveredSeq: prepare<[number, string, string]>(
      'UPDATE members SET delivered_seq = MAX(delivered_seq, ?) WHERE conv = ? AND user = ?',
    ),
    raiseReadSeq: prepare<[number, string, string]>(
      'UPDATE members SET read_seq = MAX(read_seq, ?) WHERE conv = ? AND user = ?',
    ),

    historyBefore: prepare<[string, number, number], MessageRow>(
      'SELECT * FROM messages WHERE conv = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
    ),
    historyAfter: prepare<[string, number, number], MessageRow>(
      'SELECT * FROM messages WHERE conv = ? AND seq > ? ORDER BY seq ASC LIMIT ?',
    ),
    historyLatest: prepare<[string, number], MessageRow>(
      'SELECT * FROM messages WHERE conv = ? ORDER BY seq DESC LIMIT ?',
    ),
    messagesInRange: prepare<[string, number, number], MessageRow>(
      'SELECT * FROM messages WHERE conv = ? AND seq BETWEEN ? AND ? ORDER BY seq',
    ),
    streamAfter: prepare<[string, number, number], StreamRow>(
      `SELECT s.pos, s.kind, s.conv, s.seq, s.actor, s.receipt, s.ts,
              m.client_id AS message_id, m.body AS message_body, m.ts AS message_ts,
              m.event AS message_event, m.hidden_from AS message_hidden_from
       FROM stream s
       LEFT JOIN messages m ON s.kind = 'message' AND m.conv = s.conv AND m.seq = s.seq
       WHERE s.user = ? AND s.pos > ?
       ORDER BY s.pos
       LIMIT ?`,
    ),
    maxSeq: prepare<[string], { value: number }>(
      'SELECT COALESCE(MAX(seq), 0) AS value FROM messages WHERE conv = ?',
    ),
    maxStreamPos: prepare<[string], { value: number }>(
      'SELECT COALESCE(MAX(pos), 0) AS value FROM stream WHERE user = ?',
    ),
  };
}
