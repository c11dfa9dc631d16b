import {
  buildDirectConversationId,
  conversationKind,
  directMembers,
  ErrorCode,
  type AckFrame,
  type FetchedFrame,
  type FetchFrame,
  type MessageFrame,
  type ReceiptFrame,
  type ReceiptRequestFrame,
  type SendFrame,
  type SyncFrame,
} from '@switchboard/protocol';
import {
  InvalidRequestError,
  ForbiddenError,
  NotFoundError,
  SwitchboardError,
  UnavailableError,
  ConflictError,
} from './errors.ts';
import {
  buildGroupView,
  DEFAULT_LARGE_GROUP_THRESHOLD,
  isCurrentMember,
  isReadableAt,
  readableRange,
  receivesAt,
  type GroupView,
} from './group-rules.ts';
import type { Logger } from './logger.ts';
import type { DurableLog, LogRecord, MessageRecord, ReceiptRecord, StreamTarget } from './ports/log.ts';
import type { Reservation, Sequencer } from './ports/sequencer.ts';
import type { Conversation, StreamEntry, StoredMessage, Store } from './ports/store.ts';

export interface MessengerOptions {
  store: Store;
  sequencer: Sequencer;
  log: DurableLog;
  logger: Logger;
  /** Consumer group of the persister, whose progress sync and fetch wait for. */
  persisterGroup: string;
  /** How long sync and fetch wait for the persister before reading the store anyway. */
  persistWaitMs?: number;
  /** Number of conversations whose membership is cached in memory. */
  conversationCacheSize?: number;
  /** Member count above which a group is large (SWB_LARGE_GROUP_THRESHOLD), 1,000 by default. */
  largeGroupThreshold?: number;
  /** Number of (blocker, blocked) pairs whose block state is cached in memory. */
  blockCacheSize?: number;
  /**
   * Milliseconds a cached block state is used, 60,000 by default. A block change drops it at
   * once through the bus, and this bound covers a node that missed that event.
   */
  blockCacheTtlMs?: number;
}

/** One frame for every open connection of one user. */
export interface UserDelivery {
  user: string;
  frame: string;
}

/** Result of an accepted send: the acknowledgement and the record to deliver, if any is new. */
export interface AcceptedMessage {
  ack: AckFrame;
  /** Null when the send repeats one that is already stored and delivered. */
  record: MessageRecord | null;
  /**
   * How the message reaches its members. With `push`, each of the record's targets gets it as
   * a frame. With `notice` (a large group) the record has no targets, and online members get a
   * `notice` frame instead.
   */
  fanout: 'push' | 'notice';
}

/** Destination of a send: the conversation, the users whose streams get it, and a group's view. */
interface SendPlan {
  conv: string;
  targets: string[];
  group: GroupView | null;
  /** The other member of a one-to-one conversation, whose block hides the message from them. */
  peer?: string;
}

/**
 * The message path of a chat node, free of sockets: validate, sequence, append, and turn
 * log records into per-user frames.
 *
 * Every method takes an authenticated user id and a decoded frame; it throws a
 * SwitchboardError whose code goes back to the client in an error frame.
 */
export class Messenger {
  readonly #store: Store;
  readonly #sequencer: Sequencer;
  readonly #log: DurableLog;
  readonly #logger: Logger;
  readonly #persisterGroup: string;
  readonly #persistWaitMs: number;
  readonly #conversations: Map<string, Conversation>;
  readonly #opening = new Map<string, Promise<Conversation>>();
  readonly #cacheSize: number;
  readonly #largeGroupThreshold: number;
  readonly #groups = new Map<string, GroupView>();
  readonly #groupLoads = new Map<string, Promise<GroupView | null>>();
  /** Invalidations per group, so a load that overlapped one does not cache its stale result. */
  readonly #groupEpochs = new Map<string, number>();
  /** Block state by `blocker` and `blocked` joined with a newline. */
  readonly #blocks = new Map<string, { blocked: boolean; loadedAt: number }>();
  /** Block reads in flight, so a burst of sends to one peer shares one read. */
  readonly #blockLoads = new Map<string, Promise<boolean>>();
  readonly #blockCacheSize: number;
  readonly #blockCacheTtlMs: number;
  /** The last send of each user still before its append, which the user's next send waits for. */
  readonly #sendTurns = new Map<string, Promise<void>>();

  constructor(options: MessengerOptions) {
    this.#store = options.store;
    this.#sequencer = options.sequencer;
    this.#log = options.log;
    this.#logger = options.logger;
    this.#persisterGroup = options.persisterGroup;
    this.#persistWaitMs = options.persistWaitMs ?? 2000;
    this.#cacheSize = options.conversationCacheSize ?? 10_000;
    this.#conversations = new Map();
    this.#largeGroupThreshold = options.largeGroupThreshold ?? DEFAULT_LARGE_GROUP_THRESHOLD;
    this.#blockCacheSize = options.blockCacheSize ?? 100_000;
    this.#blockCacheTtlMs = options.blockCacheTtlMs ?? 60_000;
  }

  /** Drops the cached copy of a conversation after its members, roles or name changed. */
  invalidateConversation(conv: string): void {
    this.#conversations.delete(conv);
    this.#groups.delete(conv);
    this.#groupLoads.delete(conv);
    this.#groupEpochs.set(conv, (this.#groupEpochs.get(conv) ?? 0) + 1);
  }

  /** Drops the cached block state of a pair after `blocker` blocked or unblocked `blocked`. */
  invalidateBlock(blocker: string, blocked: string): void {
    const key = `${blocker}\n${blocked}`;
    this.#blocks.delete(key);
    this.#blockLoads.delete(key);
  }

  /**
   * Returns the view of a group, from the cache when present, or null when no such group
   * exists. Nodes use it to find the members of a large group that get a notice.
   */
  loadGroup(conv: string): Promise<GroupView | null> {
    if (conversationKind(conv) !== 'group') return Promise.resolve(null);
    const cached = this.#groups.get(conv);
    if (cached !== undefined) return Promise.resolve(cached);
    let loading = this.#groupLoads.get(conv);
    if (loading === undefined) {
      loading = this.#readGroup(conv).finally(() => {
        if (this.#groupLoads.get(conv) === loading) this.#groupLoads.delete(conv);
      });
      this.#groupLoads.set(conv, loading);
    }
    return loading;
  }

  /** Returns the users who block `user`, read from the store. Their presence is hidden from `user`. */
  async blockersOf(user: string): Promise<Set<string>> {
    const blockers = await this.#guard('read who blocks the user', () => this.#store.listBlockers(user));
    return new Set(blockers);
  }

  /**
   * Returns the users who get a typing indicator of `user` in `conv`: the other members.
   *
   * A peer who blocked `user` gets none. Large groups have no typing indicators, because one
   * member typing would reach thousands of connections.
   */
  async typingRecipients(user: string, conv: string): Promise<string[]> {
    if (conversationKind(conv) === 'group') {
      const group = await this.#currentGroup(user, conv);
      if (group.large) {
        throw new ForbiddenError(
          `typing indicators are off in groups above ${this.#largeGroupThreshold} members`,
        );
      }
      // Members who may not post in a channel have nothing to be typing.
      if (group.kind === 'channel' && group.members.get(user)?.role !== 'admin') {
        throw new ForbiddenError(`only admins post in channel ${group.conv}, so only they send typing`);
      }
      return group.current.filter((member) => member !== user);
    }
    const conversation = await this.#memberConversation(user, conv);
    const peers = conversation.members.filter((member) => member !== user);
    const recipients: string[] = [];
    for (const peer of peers) {
      if (!(await this.#isBlocked(peer, user))) recipients.push(peer);
    }
    return recipients;
  }

  /** Returns the highest stream position handed out for `user`. */
  streamHead(user: string): Promise<number> {
    return this.#sequencer.streamHead(user);
  }

  /**
   * Accepts a message: checks the sender's right to post, takes its sequence number (or the
   * one of an earlier attempt with the same client id), and appends it to the durable log.
   * Resolves only after the append, so an acknowledged message is never lost.
   */
  async send(user: string, frame: SendFrame): Promise<AcceptedMessage> {
    // Sends of one user take their numbers and reach the log in the order they arrived. They
    // run concurrently otherwise, and a send that waits on a store read (the first message to
    // a peer) would let a later one take a lower number. All of a user's devices connect to
    // the node that owns the user, so one node receives all of the user's sends. Only the steps
    // up to the append wait; the appends themselves still share group commits.
    const previous = this.#sendTurns.get(user);
    let endTurn!: () => void;
    const turn = new Promise<void>((resolve) => (endTurn = resolve));
    this.#sendTurns.set(user, turn);
    try {
      if (previous !== undefined) await previous;
      return await this.#sendInTurn(user, frame, endTurn);
    } finally {
      endTurn();
      if (this.#sendTurns.get(user) === turn) this.#sendTurns.delete(user);
    }
  }

  /** The body of `send`, called in the user's turn; calls `endTurn` once the append is issued. */
  async #sendInTurn(user: string, frame: SendFrame, endTurn: () => void): Promise<AcceptedMessage> {
    const plan = await this.#planSend(user, frame);
    // The block check comes before the reservation, never between it and the append, so that
    // concurrent sends reach the log, and the recipients, in the order of their numbers.
    const blocked = plan.peer === undefined ? false : await this.#isBlocked(plan.peer, user);
    const now = Date.now();

    const reservation = await this.#guard('reserve a sequence number', () =>
      this.#sequencer.reserve({
        sender: user,
        clientId: frame.id,
        conv: plan.conv,
        targets: plan.targets,
        now,
      }),
    );

    if (reservation.existing) {
      const stored = await this.#findStored(reservation.conv, reservation.seq);
      if (stored !== null) {
        // The first attempt is durable: answer with its acknowledgement and deliver nothing
        // new. A different body under the same id would show other text on live devices
        // than in storage, so it is rejected.
        if (stored.body !== frame.body || stored.from !== user) {
          throw new ConflictError(
            ErrorCode.IdConflict,
            `client message id ${frame.id} was already used for a different message; use a new id`,
          );
        }
        const ack: AckFrame = {
          type: 'ack',
          id: frame.id,
          conv: stored.conv,
          seq: stored.seq,
          ts: stored.ts,
        };
        return { ack, record: null, fanout: plan.group?.large === true ? 'notice' : 'push' };
      }
    }

    let targets: StreamTarget[] = reservation.positions;
    let large = false;
    // A message to a peer who blocked the sender is accepted and kept for the sender's own
    // devices, but never reaches the peer: the sender cannot tell a block from silence.
    if (blocked) targets = targets.filter((target) => target.user === user);
    if (plan.group !== null) {
      const confirmed = await this.#confirmGroupTargets(user, plan.group, reservation);
      targets = confirmed.targets;
      large = confirmed.large;
    }

    // A retry whose first attempt may not have reached the log appends the same
    // (conversation, sequence number) again; consumers key by it, so the record lands once.
    const record: MessageRecord = {
      kind: 'message',
      conv: plan.conv,
      seq: reservation.seq,
      from: user,
      id: frame.id,
      body: frame.body,
      ts: reservation.ts,
      targets,
    };
    if (blocked) record.hiddenFrom = plan.peer;
    const appended = this.#guard('append the message to the log', () => this.#log.append([record]));
    endTurn();
    await appended;

    if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug(
        { conv: record.conv, seq: record.seq, retry: reservation.existing },
        'message accepted',
      );
    }
    const ack: AckFrame = { type: 'ack', id: frame.id, conv: record.conv, seq: record.seq, ts: record.ts };
    return { ack, record, fanout: large ? 'notice' : 'push' };
  }

  /**
   * Records a delivered or read watermark of `user` and returns the record to deliver.
   *
   * A watermark beyond the conversation's last stored message is rejected, after waiting
   * for the persister, so a client cannot mark messages that do not exist.
   */
  async receipt(user: string, frame: ReceiptRequestFrame): Promise<ReceiptRecord> {
    const isGroup = conversationKind(frame.conv) === 'group';
    const conversation = isGroup
      ? await this.#readableGroup(user, frame.conv, frame.seq)
      : await this.#memberConversation(user, frame.conv);
    let maxSeq = await this.#guard('read the conversation head', () => this.#store.maxSeq(conversation.id));
    if (frame.seq > maxSeq) {
      await this.#awaitPersisted();
      maxSeq = await this.#guard('read the conversation head', () => this.#store.maxSeq(conversation.id));
    }
    if (frame.seq > maxSeq) {
      throw new InvalidRequestError(
        ErrorCode.FrameInvalidField,
        `receipt.seq ${frame.seq} is beyond the last message ${maxSeq} of the conversation`,
      );
    }

    // A group receipt reaches only the member's own devices, because one stream entry per member
    // for every receipt would cost more than the watermark is worth to the others.
    const recipients = isGroup ? [user] : conversation.members;
    const positions = await this.#guard('take stream positions', () =>
      this.#sequencer.nextPositions(recipients),
    );
    const record: ReceiptRecord = {
      kind: 'receipt',
      conv: conversation.id,
      user,
      receipt: frame.kind,
      seq: frame.seq,
      ts: Date.now(),
      targets: positions,
    };
    await this.#guard('append the receipt to the log', () => this.#log.append([record]));
    return record;
  }

  /**
   * Returns the page of `user`'s sync stream after position `after`.
   *
   * It first waits for the persister to store everything appended so far, so every
   * acknowledged message is in the page.
   */
  async sync(user: string, after: number, limit: number): Promise<SyncFrame> {
    await this.#awaitPersisted();
    const entries = await this.#guard('read the sync stream', () =>
      this.#store.readStream(user, after, limit),
    );
    const frames = await this.#visibleStreamFrames(user, entries);
    const last = entries.at(-1);
    // NOTE: a position reserved by an append still in flight can lie below `head` when a
    // later one is already stored. The live frame still reaches a connected device, but a
    // device that misses it live and syncs in that window skips it.
    const head = last === undefined ? after : Math.max(after, last.pos);
    return { type: 'sync', entries: frames, head, more: entries.length === limit };
  }

  /** Returns the messages of a conversation in a sequence range, and the numbers that hold none. */
  async fetch(user: string, frame: FetchFrame): Promise<FetchedFrame> {
    let range = { from: 1, to: Number.MAX_SAFE_INTEGER };
    if (conversationKind(frame.conv) === 'group') {
      // The version check makes a removal visible here even before its invalidation arrives.
      const group = await this.#confirmedGroup(frame.conv);
      const readable = readableRange(group?.members.get(user));
      if (group === null || readable === null) {
        throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${frame.conv} does not exist`);
      }
      range = readable;
    } else {
      await this.#memberConversation(user, frame.conv);
    }

    const conv = frame.conv;
    await this.#awaitPersisted();
    const stored = await this.#guard('read messages', () =>
      this.#store.messagesInRange(conv, frame.from, frame.to),
    );
    // Numbers outside the caller's range, and messages hidden from a blocker, are reported as
    // holding no message, so the client stops waiting for them.
    const messages = stored.filter(
      (message) => message.seq >= range.from && message.seq <= range.to && message.hiddenFrom !== user,
    );
    const found = new Set(messages.map((message) => message.seq));

    // Numbers above the highest stored one may still be handed out, so only numbers below
    // it are reported as holding no message.
    const head = await this.#guard('read the conversation head', () => this.#store.maxSeq(conv));
    const missing: number[] = [];
    for (let seq = frame.from; seq <= Math.min(frame.to, head); seq++) {
      if (!found.has(seq)) missing.push(seq);
    }
    return {
      type: 'fetched',
      conv,
      messages: messages.map((message) => buildMessageFrame(message)),
      missing,
    };
  }

  /** Builds one serialized frame per target user of a record, each with that user's position. */
  buildDeliveries(record: LogRecord): UserDelivery[] {
    return record.targets.map((target) => ({
      user: target.user,
      frame: JSON.stringify(
        record.kind === 'message'
          ? buildMessageFrame(record, target.pos)
          : buildReceiptFrame(record, target.pos),
      ),
    }));
  }

  /** Decides where a send goes: checks the sender's right to post and picks the stream targets. */
  async #planSend(user: string, frame: SendFrame): Promise<SendPlan> {
    if (frame.conv !== undefined && conversationKind(frame.conv) === 'group') {
      const group = await this.#currentGroup(user, frame.conv);
      this.#assertMayPost(user, group);
      return { conv: group.conv, targets: group.large ? [] : [...group.current], group };
    }

    const conversation = await this.#resolveTarget(user, frame);
    const peer = conversation.members.find((member) => member !== user);
    return { conv: conversation.id, targets: conversation.members, group: null, peer };
  }

  #assertMayPost(user: string, group: GroupView): void {
    if (group.kind === 'channel' && group.members.get(user)?.role !== 'admin') {
      throw new ForbiddenError(`only admins post in channel ${group.conv}`);
    }
  }

  /**
   * Checks the targets of a group message against the membership as of its sequence number.
   *
   * The cached view may miss a membership change. Every change writes the store and a new
   * version before it takes its own sequence number, so when the version read after this
   * message's reservation is unchanged, no change has a lower number than this message.
   * Otherwise the view is reloaded: a sender removed before this number is rejected (the number
   * stays unused), and the targets are those who are members at this number.
   */
  async #confirmGroupTargets(
    user: string,
    cached: GroupView,
    reservation: Reservation,
  ): Promise<{ targets: StreamTarget[]; large: boolean }> {
    const group = await this.#confirmedGroup(cached.conv, cached);
    const seq = reservation.seq;
    if (group === null || !receivesAt(group.members.get(user), seq)) {
      throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${cached.conv} does not exist`);
    }
    this.#assertMayPost(user, group);
    if (group.large) return { targets: [], large: true };

    const wanted = new Set(group.current.filter((member) => receivesAt(group.members.get(member), seq)));
    const targets = reservation.positions.filter((position) => wanted.has(position.user));
    for (const target of targets) wanted.delete(target.user);
    if (wanted.size > 0) {
      // Members who joined between the cached view and this number get positions of their own.
      const added = await this.#guard('take stream positions', () =>
        this.#sequencer.nextPositions([...wanted]),
      );
      targets.push(...added);
    }
    return { targets, large: false };
  }

  /**
   * Returns the group as the store has it now: the cached view when its version is current,
   * otherwise a fresh one. Null when the group does not exist.
   */
  async #confirmedGroup(conv: string, cached?: GroupView): Promise<GroupView | null> {
    const view = cached ?? (await this.loadGroup(conv));
    if (view === null) return null;
    const record = await this.#guard('read the group', () => this.#store.getGroup(conv));
    if (record === null) return null;
    if (record.version === view.version) return view;
    this.invalidateConversation(conv);
    return this.loadGroup(conv);
  }

  /** Returns the group if `user` is a current member, and otherwise throws as if it did not exist. */
  async #currentGroup(user: string, conv: string): Promise<GroupView> {
    const group = await this.loadGroup(conv);
    if (group === null || !isCurrentMember(group.members.get(user))) {
      throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${conv} does not exist`);
    }
    return group;
  }

  /** Returns the group's conversation if `user` may read `seq` in it. */
  async #readableGroup(user: string, conv: string, seq: number): Promise<Conversation> {
    const group = await this.loadGroup(conv);
    if (group === null || !isReadableAt(group.members.get(user), seq)) {
      throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${conv} does not exist`);
    }
    return { id: conv, kind: 'group', members: [...group.current], createdAt: 0 };
  }

  async #readGroup(conv: string): Promise<GroupView | null> {
    const epoch = this.#groupEpochs.get(conv) ?? 0;
    const [record, members] = await this.#guard('load the group', () =>
      Promise.all([this.#store.getGroup(conv), this.#store.listGroupMembers(conv)]),
    );
    if (record === null) return null;
    const view = buildGroupView(record, members, this.#largeGroupThreshold);
    // An invalidation that arrived during the reads may describe a change they missed.
    if ((this.#groupEpochs.get(conv) ?? 0) === epoch) {
      if (this.#groups.size >= this.#cacheSize) {
        const oldest = this.#groups.keys().next().value;
        if (oldest !== undefined) this.#groups.delete(oldest);
      }
      this.#groups.set(conv, view);
    }
    return view;
  }

  /**
   * Returns whether `blocker` blocks `blocked`, from the cache or with one point read. The
   * cache keeps the send path free of store reads, because blocks change rarely.
   */
  #isBlocked(blocker: string, blocked: string): Promise<boolean> {
    const key = `${blocker}\n${blocked}`;
    const cached = this.#blocks.get(key);
    if (cached !== undefined) {
      // An aged entry is used once more while a read renews it, so the send path waits for
      // a store read only the first time a node sees the pair.
      if (Date.now() - cached.loadedAt >= this.#blockCacheTtlMs) {
        this.#loadBlock(key, blocker, blocked).catch(() => undefined);
      }
      return Promise.resolve(cached.blocked);
    }
    return this.#loadBlock(key, blocker, blocked);
  }

  /** Reads a block state into the cache; concurrent reads of one pair share one store read. */
  #loadBlock(key: string, blocker: string, blocked: string): Promise<boolean> {
    const inFlight = this.#blockLoads.get(key);
    if (inFlight !== undefined) return inFlight;

    const loadedAt = Date.now();
    // A read that an invalidation overtook is still answered, but its result is not cached.
    const loading: Promise<boolean> = this.#guard('read the block', () =>
      this.#store.isBlocked(blocker, blocked),
    ).then(
      (isBlocked) => {
        if (this.#blockLoads.get(key) === loading) {
          this.#blockLoads.delete(key);
          this.#cacheBlock(key, isBlocked, loadedAt);
        }
        return isBlocked;
      },
      (err: unknown) => {
        if (this.#blockLoads.get(key) === loading) this.#blockLoads.delete(key);
        throw err;
      },
    );
    this.#blockLoads.set(key, loading);
    return loading;
  }

  #cacheBlock(key: string, isBlocked: boolean, loadedAt: number): void {
    this.#blocks.delete(key);
    if (this.#blocks.size >= this.#blockCacheSize) {
      const oldest = this.#blocks.keys().next().value;
      if (oldest !== undefined) this.#blocks.delete(oldest);
    }
    this.#blocks.set(key, { blocked: isBlocked, loadedAt });
  }

  /** Builds the frames of sync entries that `user` may see: group entries inside their range, no hidden messages. */
  async #visibleStreamFrames(
    user: string,
    entries: StreamEntry[],
  ): Promise<Array<MessageFrame | ReceiptFrame>> {
    const frames: Array<MessageFrame | ReceiptFrame> = [];
    for (const entry of entries) {
      const conv = entry.kind === 'message' ? entry.message.conv : entry.receipt.conv;
      if (entry.kind === 'message' && entry.message.hiddenFrom === user) continue;
      if (conversationKind(conv) === 'group') {
        const seq = entry.kind === 'message' ? entry.message.seq : entry.receipt.seq;
        const group = await this.loadGroup(conv);
        if (!isReadableAt(group?.members.get(user), seq)) continue;
      }
      frames.push(buildStreamFrame(entry));
    }
    return frames;
  }

  async #resolveTarget(user: string, frame: SendFrame): Promise<Conversation> {
    let peer = frame.to;
    if (frame.conv !== undefined) {
      // A one-to-one conversation id names both members, so its first message may use it
      // instead of `to`; the conversation is created as if `to` had been used.
      const members = directMembers(frame.conv);
      const other = members?.[0] === user ? members[1] : members?.[1] === user ? members[0] : undefined;
      if (other === undefined || this.#conversations.has(frame.conv)) {
        return this.#memberConversation(user, frame.conv);
      }
      peer = other;
    }
    if (peer === undefined) {
      throw new InvalidRequestError(ErrorCode.FrameInvalidField, 'send needs exactly one of "to" or "conv"');
    }
    if (peer === user) {
      throw new InvalidRequestError(ErrorCode.FrameInvalidField, 'send.to must name another user');
    }
    const conv = buildDirectConversationId(user, peer);
    const cached = this.#conversations.get(conv);
    if (cached !== undefined) return cached;

    // A burst of first messages to one peer shares one lookup instead of one store round
    // trip per message.
    let opening = this.#opening.get(conv);
    if (opening === undefined) {
      opening = this.#openDirect(conv, user, peer).finally(() => this.#opening.delete(conv));
      this.#opening.set(conv, opening);
    }
    return opening;
  }

  async #openDirect(conv: string, user: string, peer: string): Promise<Conversation> {
    const recipient = await this.#guard('look up the recipient', () => this.#store.getUser(peer));
    if (recipient === null) throw new NotFoundError(ErrorCode.UserNotFound, `user ${peer} does not exist`);
    await this.#guard('create the conversation', () =>
      this.#store.ensureDirectConversation(conv, [user, peer], Date.now()),
    );
    return this.#loadConversation(conv);
  }

  async #memberConversation(user: string, conv: string): Promise<Conversation> {
    if (conversationKind(conv) === 'group') {
      const group = await this.#currentGroup(user, conv);
      return { id: conv, kind: 'group', members: [...group.current], createdAt: 0 };
    }
    const conversation = await this.#loadConversation(conv);
    // A non-member gets the same answer as for a conversation that does not exist, so that
    // nobody can learn who talks with whom by probing conversation ids.
    if (!conversation.members.includes(user)) {
      throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${conv} does not exist`);
    }
    return conversation;
  }

  async #loadConversation(conv: string): Promise<Conversation> {
    const cached = this.#conversations.get(conv);
    if (cached !== undefined) return cached;

    const conversation = await this.#guard('load the conversation', () => this.#store.getConversation(conv));
    if (conversation === null) {
      throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${conv} does not exist`);
    }
    // Both block states are read now, in the background, so that a burst of first messages
    // waits for one read rather than stalling one send at a time.
    const [first, second] = conversation.members;
    if (conversation.kind === 'direct' && first !== undefined && second !== undefined) {
      this.#isBlocked(first, second).catch(() => undefined);
      this.#isBlocked(second, first).catch(() => undefined);
    }
    // One-to-one membership never changes, so the entry needs no invalidation. Groups are
    // cached apart, as GroupViews that membership changes invalidate.
    if (this.#conversations.size >= this.#cacheSize) {
      const oldest = this.#conversations.keys().next().value;
      if (oldest !== undefined) this.#conversations.delete(oldest);
    }
    this.#conversations.set(conv, conversation);
    return conversation;
  }

  /**
   * Waits until the persister has stored everything appended so far.
   *
   * Reading a store that lags would report acknowledged messages as missing, so a wait that
   * times out fails the request as retryable instead.
   */
  async #awaitPersisted(): Promise<void> {
    const caughtUp = await this.#log.awaitConsumed(this.#persisterGroup, this.#persistWaitMs);
    if (!caughtUp) {
      this.#logger.warn({ waitMs: this.#persistWaitMs }, 'persister behind the log');
      throw new UnavailableError(`the store is more than ${this.#persistWaitMs} ms behind the log; retry`);
    }
  }

  /** Returns the stored message at (conv, seq) once the persister caught up, or null. */
  async #findStored(conv: string, seq: number): Promise<StoredMessage | null> {
    await this.#awaitPersisted();
    const [stored] = await this.#guard('read the earlier attempt', () =>
      this.#store.messagesInRange(conv, seq, seq),
    );
    return stored ?? null;
  }

  /** Runs a dependency call; a failure that is not already a SwitchboardError becomes retryable. */
  async #guard<T>(action: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      this.#logger.warn({ err, action }, 'dependency call failed');
      throw new UnavailableError(`failed to ${action}; retry with the same id`, { cause: err });
    }
  }
}

/** Builds the `message` frame of a stored or logged message. */
export function buildMessageFrame(message: StoredMessage, pos?: number): MessageFrame {
  const frame: MessageFrame = {
    type: 'message',
    conv: message.conv,
    seq: message.seq,
    from: message.from,
    id: message.id,
    body: message.body,
    ts: message.ts,
  };
  if (pos !== undefined) frame.pos = pos;
  if (message.event !== undefined) frame.event = message.event;
  return frame;
}

function buildReceiptFrame(record: Omit<ReceiptRecord, 'targets' | 'kind'>, pos?: number): ReceiptFrame {
  const frame: ReceiptFrame = {
    type: 'receipt',
    conv: record.conv,
    user: record.user,
    kind: record.receipt,
    seq: record.seq,
    ts: record.ts,
  };
  if (pos !== undefined) frame.pos = pos;
  return frame;
}

function buildStreamFrame(entry: StreamEntry): MessageFrame | ReceiptFrame {
  return entry.kind === 'message'
    ? buildMessageFrame(entry.message, entry.pos)
    : buildReceiptFrame(entry.receipt, entry.pos);
}
