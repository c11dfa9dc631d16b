import {
  buildDirectConversationId,
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
  NotFoundError,
  SwitchboardError,
  UnavailableError,
  ConflictError,
} from './errors.ts';
import type { Logger } from './logger.ts';
import type { DurableLog, LogRecord, MessageRecord, ReceiptRecord } from './ports/log.ts';
import type { Sequencer } from './ports/sequencer.ts';
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

  constructor(options: MessengerOptions) {
    this.#store = options.store;
    this.#sequencer = options.sequencer;
    this.#log = options.log;
    this.#logger = options.logger;
    this.#persisterGroup = options.persisterGroup;
    this.#persistWaitMs = options.persistWaitMs ?? 2000;
    this.#cacheSize = options.conversationCacheSize ?? 10_000;
    this.#conversations = new Map();
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
    const conversation = await this.#resolveTarget(user, frame);
    const now = Date.now();

    const reservation = await this.#guard('reserve a sequence number', () =>
      this.#sequencer.reserve({
        sender: user,
        clientId: frame.id,
        conv: conversation.id,
        targets: conversation.members,
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
        return { ack, record: null };
      }
    }

    // A retry whose first attempt may not have reached the log appends the same
    // (conversation, sequence number) again; consumers key by it, so the record lands once.
    const record: MessageRecord = {
      kind: 'message',
      conv: conversation.id,
      seq: reservation.seq,
      from: user,
      id: frame.id,
      body: frame.body,
      ts: reservation.ts,
      targets: reservation.positions,
    };
    await this.#guard('append the message to the log', () => this.#log.append([record]));

    if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug(
        { conv: record.conv, seq: record.seq, retry: reservation.existing },
        'message accepted',
      );
    }
    const ack: AckFrame = { type: 'ack', id: frame.id, conv: record.conv, seq: record.seq, ts: record.ts };
    return { ack, record };
  }

  /**
   * Records a delivered or read watermark of `user` and returns the record to deliver.
   *
   * A watermark beyond the conversation's last stored message is rejected, after waiting
   * for the persister, so a client cannot mark messages that do not exist.
   */
  async receipt(user: string, frame: ReceiptRequestFrame): Promise<ReceiptRecord> {
    const conversation = await this.#memberConversation(user, frame.conv);
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

    const positions = await this.#guard('take stream positions', () =>
      this.#sequencer.nextPositions(conversation.members),
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
    const frames = entries.map((entry) => buildStreamFrame(entry));
    const last = entries.at(-1);
    // NOTE: a position reserved by an append still in flight can lie below `head` when a
    // later one is already stored. The live frame still reaches a connected device, but a
    // device that misses it live and syncs in that window skips it.
    const head = last === undefined ? after : Math.max(after, last.pos);
    return { type: 'sync', entries: frames, head, more: entries.length === limit };
  }

  /** Returns the messages of a conversation in a sequence range, and the numbers that hold none. */
  async fetch(user: string, frame: FetchFrame): Promise<FetchedFrame> {
    const conversation = await this.#memberConversation(user, frame.conv);
    await this.#awaitPersisted();
    const messages = await this.#guard('read messages', () =>
      this.#store.messagesInRange(conversation.id, frame.from, frame.to),
    );
    const found = new Set(messages.map((message) => message.seq));
    // Numbers above the highest stored one may still be handed out, so only numbers below
    // it are reported as holding no message.
    const head = await this.#guard('read the conversation head', () => this.#store.maxSeq(conversation.id));
    const missing: number[] = [];
    for (let seq = frame.from; seq <= Math.min(frame.to, head); seq++) {
      if (!found.has(seq)) missing.push(seq);
    }
    return {
      type: 'fetched',
      conv: conversation.id,
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
    // One-to-one membership never changes, so the entry needs no invalidation.
    // TODO: groups change membership; their entries need invalidation from the bus.
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
