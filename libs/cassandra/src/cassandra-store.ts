import type { Client, QueryOptions, types } from 'cassandra-driver';
import {
  ConflictError,
  InvalidRequestError,
  SwitchboardError,
  UnavailableError,
  createLogger,
  type Conversation,
  type ConversationSummary,
  type GroupMember,
  type GroupRecord,
  type HistoryQuery,
  type LogRecord,
  type MemberState,
  type Store,
  type StoredMessage,
  type StreamEntry,
  type UserRecord,
} from '@switchboard/core';
import { ErrorCode, conversationKind, type ConversationKind, type GroupKind } from '@switchboard/protocol';
import { mapBounded } from './bounded-map.ts';
import { CassandraPushRegistry } from './cassandra-push-registry.ts';
import { describeError, openClient } from './cassandra-connection.ts';
import { resolveOptions, type CassandraStoreOptions, type ResolvedOptions } from './cassandra-options.ts';
import {
  JOIN_IN_FLIGHT,
  isCurrentMember,
  messageKey,
  readLong,
  readTime,
  toGroupMember,
  toStoredMessage,
  withExtras,
  toStreamEntry,
  toStreamRow,
  toUserRecord,
  type StreamRow,
} from './rows.ts';
import { USER_PREFIX_SHARDS } from './schema.ts';
import { buildStatements, type Statements } from './statements.ts';
import { MAX_CHAR, buildPrefixKey, buildPrefixShard } from './user-prefix.ts';
import { planWrites, type BoundStatement } from './write-plan.ts';

/** Rows per page when a query may return more than one page. */
const PAGE_SIZE = 1_000;

/** Cassandra's largest TTL, 20 years in seconds. */
const MAX_TTL_SECONDS = 630_720_000;

/**
 * Time a refresh token row outlives its expiry, in seconds.
 *
 * Expiry is judged against the caller's `now`, and the TTL only frees the row afterwards, so
 * the margin covers clock skew between the store's clock and the callers'.
 */
const TOKEN_TTL_MARGIN_SECONDS = 3_600;

/** Values per `seq IN ?` list, because a longer list makes one slow request out of many rows. */
const MAX_IN_VALUES = 100;

/**
 * The Store of the cluster profile, on Cassandra through cassandra-driver 4.
 *
 * Every data statement runs prepared at the configured consistency (LOCAL_QUORUM by default), and
 * every driver failure surfaces as an UnavailableError with the driver error as `cause`.
 * Messages and sync streams are partitioned by (conversation, bucket) and (user, bucket),
 * where a bucket is `bucketSize` consecutive sequence numbers or stream positions.
 *
 * It differs from the embedded store in two ways. searchUsers matches only names that share
 * the first USER_PREFIX_LENGTH (3) characters with the prefix, so a shorter prefix finds only
 * the user with exactly that name. applyRecords creates no conversation or member rows, so a
 * conversation shows in listConversations only after ensureDirectConversation created it.
 */
export class CassandraStore implements Store {
  readonly #client: Client;
  readonly #cql: Statements;
  readonly #options: ResolvedOptions;
  #push: CassandraPushRegistry | null = null;
  #closed = false;

  private constructor(client: Client, options: ResolvedOptions) {
    this.#client = client;
    this.#cql = buildStatements(options.keyspace);
    this.#options = options;
  }

  /**
   * Connects, creates the keyspace when it is missing, applies pending schema migrations and
   * checks the bucket size against the one the keyspace was created with.
   *
   * Throws a ConfigError for invalid options or a changed bucket size, and an UnavailableError
   * when Cassandra cannot be reached or a schema statement fails.
   */
  static async connect(options: CassandraStoreOptions): Promise<CassandraStore> {
    const resolved = resolveOptions(options);
    const { keyspace } = resolved;
    const logger = options.logger ?? createLogger('cassandra-store');
    const client = await openClient(resolved, logger);
    logger.info(
      { keyspace, consistency: resolved.consistency, bucketSize: resolved.bucketSize },
      'cassandra store connected',
    );
    return new CassandraStore(client, resolved);
  }

  /**
   * Creates a user.
   *
   * The name is claimed first with a lightweight transaction, so a taken name writes no user
   * row. A retry with the same id and name finds its own claim and completes the rows.
   */
  async createUser(user: UserRecord): Promise<void> {
    const username = user.username.toLowerCase();
    await this.#guard('create a user', async () => {
      const claim = await this.#execute(this.#cql.claimUsername, [username, user.id]);
      if (!claim.wasApplied() && claim.first()?.['id'] !== user.id) {
        throw new ConflictError(ErrorCode.UsernameTaken, `username ${username} is already taken`);
      }

      const createdAt = new Date(user.createdAt);
      await Promise.all([
        this.#execute(this.#cql.insertUser, [
          user.id,
          username,
          user.displayName,
          user.passwordHash,
          createdAt,
        ]),
        this.#execute(this.#cql.insertUserPrefix, [
          buildPrefixKey(username),
          buildPrefixShard(username),
          username,
          user.id,
        ]),
      ]);
    });
  }

  /** Push subscriptions and settings, in tables of the same keyspace; they stop working at close. */
  get push(): CassandraPushRegistry {
    this.#push ??= new CassandraPushRegistry(this.#client, this.#options.keyspace);
    return this.#push;
  }

  async getUser(id: string): Promise<UserRecord | null> {
    return this.#guard('read a user', () => this.#readUser(id));
  }

  async findUserByName(username: string): Promise<UserRecord | null> {
    return this.#guard('find a user by name', async () => {
      const result = await this.#execute(this.#cql.selectUserIdByName, [username.toLowerCase()]);
      const id = result.first()?.['id'] as string | undefined;
      return id === undefined ? null : this.#readUser(id);
    });
  }

  /**
   * Lists users whose name starts with `prefix`, by name.
   *
   * Reads the USER_PREFIX_SHARDS partitions of the prefix's first USER_PREFIX_LENGTH
   * characters, merges them, and then reads each user row that made the page.
   */
  async searchUsers(prefix: string, limit: number): Promise<UserRecord[]> {
    if (!(limit > 0)) return [];
    const count = Math.floor(limit);
    const from = prefix.toLowerCase();
    // NOTE: a prefix shorter than USER_PREFIX_LENGTH reads the partition of names of exactly
    // that length, so it finds only that exact name, and the empty prefix finds no one.
    const key = buildPrefixKey(from);

    return this.#guard('search users', async () => {
      const shards = Array.from({ length: USER_PREFIX_SHARDS }, (_, shard) => shard);
      const pages = await Promise.all(
        shards.map((shard) =>
          this.#readAll(this.#cql.selectUsersByPrefix, [key, shard, from, from + MAX_CHAR, count]),
        ),
      );
      const matches = pages
        .flat()
        .map((row) => ({ username: row['username'] as string, id: row['id'] as string }))
        .sort((a, b) => compareText(a.username, b.username))
        .slice(0, count);

      const users = await mapBounded(matches, this.#options.concurrency, (match) => this.#readUser(match.id));
      return users.filter((user): user is UserRecord => user !== null);
    });
  }

  /**
   * Stores a refresh token with a TTL that ends TOKEN_TTL_MARGIN_SECONDS after `expiresAt`
   * by this process's clock, and never sooner than that margin from now.
   */
  async saveRefreshToken(tokenHash: string, userId: string, expiresAt: number): Promise<void> {
    const remaining = Math.ceil((expiresAt - Date.now()) / 1_000);
    const ttl = Math.min(Math.max(remaining, 0) + TOKEN_TTL_MARGIN_SECONDS, MAX_TTL_SECONDS);
    await this.#guard('save a refresh token', () =>
      this.#execute(this.#cql.insertRefreshToken, [tokenHash, userId, new Date(expiresAt), ttl]),
    );
  }

  /** Deletes the token with `DELETE ... IF EXISTS`, so of two concurrent uses only one gets the user. */
  async consumeRefreshToken(tokenHash: string, now: number): Promise<string | null> {
    return this.#guard('consume a refresh token', async () => {
      const row = (await this.#execute(this.#cql.selectRefreshToken, [tokenHash])).first();
      if (row === null || row === undefined) return null;

      const deleted = await this.#execute(this.#cql.deleteRefreshToken, [tokenHash]);
      if (!deleted.wasApplied()) return null;
      if (readTime(row['expires_at']) <= now) return null;
      return row['user_id'] as string;
    });
  }

  /**
   * Creates the one-to-one conversation if it does not exist.
   *
   * The conversation row is claimed with a lightweight transaction, so the first call's
   * `now` stays the creation time. The member rows are written on every call, which
   * repairs a call that failed between the claim and them.
   */
  async ensureDirectConversation(conv: string, members: [string, string], now: number): Promise<void> {
    if (conversationKind(conv) !== 'direct') {
      throw new InvalidRequestError(ErrorCode.RequestInvalid, `conversation ${conv} is not a one-to-one id`);
    }

    await this.#guard('create a conversation', async () => {
      // Fast path: a plain read avoids the four round trips of a Paxos round once the row exists.
      let createdAt = (await this.#execute(this.#cql.selectConversation, [conv])).first()?.['created_at'] as
        Date | undefined;
      if (createdAt === undefined) {
        const claim = await this.#execute(this.#cql.claimConversation, [conv, 'direct', new Date(now)]);
        createdAt = claim.wasApplied() ? new Date(now) : (claim.first()['created_at'] as Date);
      }

      await Promise.all(
        members.flatMap((user) => [
          this.#execute(this.#cql.insertMember, [conv, user, createdAt]),
          this.#execute(this.#cql.insertUserConversation, [user, conv, 'direct', createdAt]),
        ]),
      );
    });
  }

  async getConversation(conv: string): Promise<Conversation | null> {
    return this.#guard('read a conversation', async () => {
      const [conversation, members] = await Promise.all([
        this.#execute(this.#cql.selectConversation, [conv]),
        this.#readAll(this.#cql.selectMemberIds, [conv]),
      ]);
      const row = conversation.first();
      if (row === null || row === undefined) return null;
      return {
        id: conv,
        kind: row['kind'] as ConversationKind,
        members: members.filter(isCurrentMember).map((member) => member['user_id'] as string),
        createdAt: readTime(row['created_at']),
      };
    });
  }

  /**
   * Lists the user's conversations, newest activity first.
   *
   * NOTE: this costs two reads per conversation (its head and its members) plus the unread
   * count's reads, and sorts in memory, because Cassandra cannot keep a partition sorted by
   * a value that changes with every message. A user in thousands of conversations pays
   * thousands of reads per call, so a paged list needs an activity index of its own.
   */
  async listConversations(user: string): Promise<ConversationSummary[]> {
    return this.#guard('list conversations', async () => {
      const rows = await this.#readAll(this.#cql.selectUserConversations, [user]);
      const entries = await mapBounded(rows, this.#options.concurrency, (row) =>
        this.#summarize(
          user,
          row['conv'] as string,
          row['kind'] as ConversationKind,
          readTime(row['created_at']),
        ),
      );
      entries.sort((a, b) => b.activity - a.activity || compareText(a.summary.id, b.summary.id));
      return entries.map((entry) => entry.summary);
    });
  }

  /**
   * Writes a batch of log records idempotently.
   *
   * Heads go first and rows second, so a head is never behind a stored row: maxSeq and
   * maxStreamPos, which re-seed lost counters, never return less than a stored number. A
   * failure may leave a head ahead of its rows until the caller retries the batch.
   */
  async applyRecords(records: LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const plan = planWrites(records, this.#cql, this.#options.bucketSize);
    const { concurrency } = this.#options;

    await this.#guard('apply log records', async () => {
      await mapBounded(plan.heads, concurrency, (statement) => this.#write(statement));
      await mapBounded(plan.batches, concurrency, (batch) =>
        batch.length === 1
          ? this.#write(batch[0]!)
          : this.#client.batch(batch, { prepare: true, logged: false, isIdempotent: true }),
      );
    });
  }

  /** Returns one page: newest first below `beforeSeq`, oldest first above `afterSeq`, else the newest page. */
  async history(conv: string, query: HistoryQuery): Promise<StoredMessage[]> {
    if (query.beforeSeq !== undefined && query.afterSeq !== undefined) {
      throw new InvalidRequestError(
        ErrorCode.RequestInvalid,
        'history query sets both beforeSeq and afterSeq',
      );
    }
    if (!(query.limit > 0)) return [];
    const limit = Math.floor(query.limit);

    return this.#guard('read history', async () => {
      const head = await this.#readMaxSeq(conv);
      if (query.afterSeq !== undefined) return this.#readAscending(conv, query.afterSeq + 1, head, limit);
      const upper = query.beforeSeq === undefined ? head : Math.min(query.beforeSeq - 1, head);
      return this.#readDescending(conv, upper, limit);
    });
  }

  async messagesInRange(conv: string, from: number, to: number): Promise<StoredMessage[]> {
    return this.#guard('read a message range', async () => {
      // The head is never behind a stored row, so it bounds the buckets worth reading.
      const last = Math.min(to, await this.#readMaxSeq(conv));
      const first = Math.max(from, 0);
      if (first > last) return [];

      const buckets = this.#bucketsBetween(first, last);
      const pages = await mapBounded(buckets, this.#options.concurrency, (bucket) =>
        this.#readAll(this.#cql.selectMessagesBetween, [conv, bucket, first, last]),
      );
      return pages.flat().map((row) => toStoredMessage(conv, row));
    });
  }

  async readStream(user: string, afterPos: number, limit: number): Promise<StreamEntry[]> {
    if (!(limit > 0)) return [];
    const count = Math.floor(limit);

    return this.#guard('read a sync stream', async () => {
      const head = await this.#readMaxPos(user);
      const from = Math.max(afterPos + 1, 0);
      const rows: StreamRow[] = [];
      for (
        let bucket = this.#bucketOf(from);
        bucket <= this.#bucketOf(head) && rows.length < count;
        bucket += 1
      ) {
        const page = await this.#readAll(this.#cql.selectStreamAbove, [
          user,
          bucket,
          from,
          count - rows.length,
        ]);
        rows.push(...page.map(toStreamRow));
      }

      const messages = await this.#readStreamMessages(rows);
      return rows
        .map((row) => toStreamEntry(row, messages))
        .filter((entry): entry is StreamEntry => entry !== null);
    });
  }

  async maxSeq(conv: string): Promise<number> {
    return this.#guard('read the highest sequence number', () => this.#readMaxSeq(conv));
  }

  async maxStreamPos(user: string): Promise<number> {
    return this.#guard('read the highest stream position', () => this.#readMaxPos(user));
  }

  /**
   * Creates a group. The conversation row is claimed with a lightweight transaction, so a
   * second create of the same id fails with SWB_ERR_ID_CONFLICT and writes nothing.
   */
  async createGroup(group: GroupRecord, members: GroupMember[]): Promise<void> {
    if (conversationKind(group.conv) !== 'group') {
      throw new InvalidRequestError(ErrorCode.RequestInvalid, `conversation ${group.conv} is not a group id`);
    }
    await this.#guard('create a group', async () => {
      const createdAt = new Date(group.createdAt);
      const claim = await this.#execute(this.#cql.claimConversation, [group.conv, 'group', createdAt]);
      if (!claim.wasApplied()) {
        throw new ConflictError(ErrorCode.IdConflict, `conversation ${group.conv} already exists`);
      }
      await this.#execute(this.#cql.insertGroup, [
        group.conv,
        group.kind,
        group.name,
        group.createdBy,
        createdAt,
        group.version,
      ]);
      await mapBounded(members, this.#options.concurrency, (member) =>
        this.#writeGroupMember(group.conv, member, createdAt),
      );
    });
  }

  async getGroup(conv: string): Promise<GroupRecord | null> {
    return this.#guard('read a group', () => this.#readGroup(conv));
  }

  async renameGroup(conv: string, name: string): Promise<void> {
    await this.#guard('rename a group', () => this.#execute(this.#cql.renameGroup, [name, conv]));
  }

  /**
   * Writes member rows and their rows in conversations_by_user, then the version, so a reader
   * that reads the new version also reads the rows.
   */
  async saveGroupMembers(conv: string, members: GroupMember[], version: string): Promise<void> {
    await this.#guard('save group members', async () => {
      const group = await this.#readGroup(conv);
      const createdAt = new Date(group?.createdAt ?? Date.now());
      await mapBounded(members, this.#options.concurrency, (member) =>
        this.#writeGroupMember(conv, member, createdAt),
      );
      await this.#execute(this.#cql.setGroupVersion, [version, conv]);
    });
  }

  async listGroupMembers(conv: string): Promise<GroupMember[]> {
    return this.#guard('list group members', async () => {
      const rows = await this.#readAll(this.#cql.selectGroupMembers, [conv]);
      return rows.map(toGroupMember);
    });
  }

  async getGroupMember(conv: string, user: string): Promise<GroupMember | null> {
    return this.#guard('read a group member', async () => {
      const row = (await this.#execute(this.#cql.selectGroupMember, [conv, user])).first();
      return row === null || row === undefined ? null : toGroupMember(row);
    });
  }

  async blockUser(blocker: string, blocked: string, now: number): Promise<void> {
    await this.#guard('block a user', async () => {
      await Promise.all([
        this.#execute(this.#cql.insertBlock, [blocker, blocked, new Date(now)]),
        this.#execute(this.#cql.insertBlockByBlocked, [blocked, blocker]),
      ]);
    });
  }

  async unblockUser(blocker: string, blocked: string): Promise<void> {
    await this.#guard('unblock a user', async () => {
      await Promise.all([
        this.#execute(this.#cql.deleteBlock, [blocker, blocked]),
        this.#execute(this.#cql.deleteBlockByBlocked, [blocked, blocker]),
      ]);
    });
  }

  async listBlocked(blocker: string): Promise<string[]> {
    return this.#guard('list blocked users', async () => {
      const rows = await this.#readAll(this.#cql.selectBlocked, [blocker]);
      return rows.map((row) => row['blocked'] as string);
    });
  }

  async isBlocked(blocker: string, blocked: string): Promise<boolean> {
    return this.#guard('read a block', async () => {
      const row = (await this.#execute(this.#cql.selectBlock, [blocker, blocked])).first();
      return row !== null && row !== undefined;
    });
  }

  async listBlockers(blocked: string): Promise<string[]> {
    return this.#guard('list blocking users', async () => {
      const rows = await this.#readAll(this.#cql.selectBlockers, [blocked]);
      return rows.map((row) => row['blocker'] as string);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.shutdown();
  }

  async #readGroup(conv: string): Promise<GroupRecord | null> {
    const row = (await this.#execute(this.#cql.selectGroup, [conv])).first();
    if (row === null || row === undefined) return null;
    return {
      conv,
      kind: row['kind'] as GroupKind,
      name: row['name'] as string,
      createdBy: row['created_by'] as string,
      createdAt: readTime(row['created_at']),
      version: row['version'] as string,
    };
  }

  /** Writes one member row, and lists the group for the user only while they are a current member. */
  async #writeGroupMember(conv: string, member: GroupMember, createdAt: Date): Promise<void> {
    await this.#execute(this.#cql.upsertGroupMember, [
      conv,
      member.user,
      new Date(),
      member.role,
      member.joinedSeq ?? JOIN_IN_FLIGHT,
      member.leftSeq,
    ]);
    if (member.leftSeq === null && member.joinedSeq !== null) {
      await this.#execute(this.#cql.insertUserConversation, [member.user, conv, 'group', createdAt]);
    } else {
      await this.#execute(this.#cql.deleteUserConversation, [member.user, conv]);
    }
  }

  async #summarize(
    user: string,
    conv: string,
    kind: ConversationKind,
    createdAt: number,
  ): Promise<{ summary: ConversationSummary; activity: number }> {
    const [heads, members, group] = await Promise.all([
      this.#readAll(this.#cql.selectConversationHead, [conv]),
      this.#readAll(this.#cql.selectMemberStates, [conv]),
      kind === 'group' ? this.#readGroup(conv) : Promise.resolve(null),
    ]);
    const head = heads[0];
    let lastMessage: StoredMessage | null =
      head === undefined || head['max_seq'] === null
        ? null
        : withExtras(
            {
              conv,
              seq: readLong(head['max_seq']),
              from: head['last_sender'] as string,
              id: head['last_client_id'] as string,
              body: head['last_body'] as string,
              ts: readTime(head['last_ts']),
            },
            head['last_event'],
            head['last_hidden_from'],
          );
    if (lastMessage?.hiddenFrom === user) {
      lastMessage = await this.#findLastVisible(conv, user, lastMessage.seq);
    }
    const memberStates: MemberState[] = members.filter(isCurrentMember).map((row) => ({
      user: row['user_id'] as string,
      deliveredSeq: readLong(row['delivered_seq']),
      readSeq: readLong(row['read_seq']),
    }));

    const readSeq = memberStates.find((state) => state.user === user)?.readSeq ?? 0;
    const unread =
      lastMessage !== null && lastMessage.seq > readSeq
        ? await this.#countUnread(conv, user, readSeq, lastMessage.seq)
        : 0;
    const summary: ConversationSummary = {
      id: conv,
      kind,
      members: memberStates.map((state) => state.user),
      lastMessage,
      unread,
      memberStates,
    };
    if (group !== null) summary.group = { name: group.name, kind: group.kind };
    return { summary, activity: lastMessage?.ts ?? createdAt };
  }

  /**
   * Returns the newest message below `belowSeq` that `user` may see, or null.
   *
   * Only messages hidden from a blocker make this necessary, so it reads at most one page.
   */
  async #findLastVisible(conv: string, user: string, belowSeq: number): Promise<StoredMessage | null> {
    const page = await this.#readDescending(conv, belowSeq - 1, 50);
    return page.find((message) => message.hiddenFrom !== user) ?? null;
  }

  /**
   * Counts messages from members other than `user` after `readSeq`.
   *
   * NOTE: it scans at most maxUnreadCount messages after the watermark, so a longer backlog
   * reports the others' messages among those only, a lower bound that a client can show as
   * "999+". The cap bounds the rows one listConversations reads per conversation.
   */
  async #countUnread(conv: string, user: string, readSeq: number, maxSeq: number): Promise<number> {
    const cap = this.#options.maxUnreadCount;
    let scanned = 0;
    let unread = 0;
    for (
      let bucket = this.#bucketOf(readSeq + 1);
      bucket <= this.#bucketOf(maxSeq) && scanned < cap;
      bucket += 1
    ) {
      const rows = await this.#readAll(this.#cql.selectSendersAbove, [
        conv,
        bucket,
        readSeq + 1,
        cap - scanned,
      ]);
      scanned += rows.length;
      // System messages of group changes and messages hidden from the caller are not unread.
      unread += rows.filter(
        (row) => row['sender'] !== user && row['event'] === null && row['hidden_from'] !== user,
      ).length;
    }
    return unread;
  }

  /** Reads up to `limit` messages with seq <= `upper`, newest first, walking buckets down. */
  async #readDescending(conv: string, upper: number, limit: number): Promise<StoredMessage[]> {
    const messages: StoredMessage[] = [];
    for (let bucket = this.#bucketOf(upper); bucket >= 0 && messages.length < limit; bucket -= 1) {
      const rows = await this.#readAll(this.#cql.selectMessagesBelow, [
        conv,
        bucket,
        upper,
        limit - messages.length,
      ]);
      messages.push(...rows.map((row) => toStoredMessage(conv, row)));
    }
    return messages;
  }

  /** Reads up to `limit` messages with `from` <= seq <= `head`, oldest first, walking buckets up. */
  async #readAscending(conv: string, from: number, head: number, limit: number): Promise<StoredMessage[]> {
    const messages: StoredMessage[] = [];
    const first = Math.max(from, 0);
    for (
      let bucket = this.#bucketOf(first);
      bucket <= this.#bucketOf(head) && messages.length < limit;
      bucket += 1
    ) {
      const rows = await this.#readAll(this.#cql.selectMessagesAbove, [
        conv,
        bucket,
        first,
        limit - messages.length,
      ]);
      messages.push(...rows.map((row) => toStoredMessage(conv, row)));
    }
    return messages;
  }

  /** Reads the message rows that the message entries of a stream page point at. */
  async #readStreamMessages(rows: StreamRow[]): Promise<Map<string, StoredMessage>> {
    const groups = new Map<string, { conv: string; bucket: number; seqs: number[] }>();
    for (const row of rows) {
      if (row.kind !== 'message') continue;
      const bucket = this.#bucketOf(row.seq);
      const key = `${row.conv}\u0000${bucket}`;
      const group = groups.get(key) ?? { conv: row.conv, bucket, seqs: [] };
      group.seqs.push(row.seq);
      groups.set(key, group);
    }

    const requests: Array<{ conv: string; bucket: number; seqs: number[] }> = [];
    for (const group of groups.values()) {
      for (let start = 0; start < group.seqs.length; start += MAX_IN_VALUES) {
        requests.push({ ...group, seqs: group.seqs.slice(start, start + MAX_IN_VALUES) });
      }
    }
    const pages = await mapBounded(requests, this.#options.concurrency, async (request) => {
      const page = await this.#readAll(this.#cql.selectMessagesIn, [
        request.conv,
        request.bucket,
        request.seqs,
      ]);
      return page.map((row) => toStoredMessage(request.conv, row));
    });

    const messages = new Map<string, StoredMessage>();
    for (const message of pages.flat()) messages.set(messageKey(message.conv, message.seq), message);
    return messages;
  }

  async #readUser(id: string): Promise<UserRecord | null> {
    const row = (await this.#execute(this.#cql.selectUser, [id])).first();
    return row === null || row === undefined ? null : toUserRecord(row);
  }

  async #readMaxSeq(conv: string): Promise<number> {
    const row = (await this.#execute(this.#cql.selectMaxSeq, [conv])).first();
    return readLong(row?.['max_seq']);
  }

  async #readMaxPos(user: string): Promise<number> {
    const row = (await this.#execute(this.#cql.selectMaxPos, [user])).first();
    return readLong(row?.['max_pos']);
  }

  #bucketOf(value: number): number {
    return Math.floor(value / this.#options.bucketSize);
  }

  #bucketsBetween(first: number, last: number): number[] {
    const buckets: number[] = [];
    for (let bucket = this.#bucketOf(first); bucket <= this.#bucketOf(last); bucket += 1)
      buckets.push(bucket);
    return buckets;
  }

  #execute(query: string, params: unknown[], options: QueryOptions = {}): Promise<types.ResultSet> {
    return this.#client.execute(query, params, { prepare: true, ...options });
  }

  #write(statement: BoundStatement): Promise<types.ResultSet> {
    return this.#execute(statement.query, statement.params, { isIdempotent: true });
  }

  /** Reads every row of a query, one page of PAGE_SIZE rows at a time. */
  async #readAll(query: string, params: unknown[]): Promise<types.Row[]> {
    const rows: types.Row[] = [];
    let pageState: string | undefined;
    do {
      const result = await this.#execute(query, params, { fetchSize: PAGE_SIZE, pageState });
      rows.push(...result.rows);
      pageState = result.pageState ?? undefined;
    } while (pageState !== undefined);
    return rows;
  }

  /** Runs `work` and turns any driver failure into an UnavailableError that keeps it as `cause`. */
  async #guard<T>(operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      throw new UnavailableError(`failed to ${operation} in Cassandra: ${describeError(err)}`, {
        cause: err,
      });
    }
  }
}

function compareText(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}
