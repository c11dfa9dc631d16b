import {
  CloseCode,
  isId,
  type AckFrame,
  type ActivityState,
  type ErrorFrame,
  type FetchedFrame,
  type GroupEvent,
  type MessageFrame,
  type NoticeFrame,
  type PongFrame,
  type PresenceEntry,
  type ReceiptFrame,
  type SendFrame,
  type ServerFrame,
  type SyncFrame,
  type WelcomeFrame,
} from '@switchboard/protocol';
import type {
  AuthResponse,
  ConversationSummary,
  CreateGroupOptions,
  GroupInfo,
  HistoryOptions,
  HistoryPage,
  Session,
  User,
} from './api-types.ts';
import { computeBackoffDelay } from './backoff.ts';
import { ChannelPuller } from './channel-puller.ts';
import {
  resolveClientOptions,
  type ResolvedClientOptions,
  type SwitchboardClientOptions,
} from './client-options.ts';
import { Connection } from './connection.ts';
import {
  ClientClosedError,
  ConnectionStoppedError,
  NetworkError,
  NoSessionError,
  SendRejectedError,
  SwitchboardClientError,
} from './errors.ts';
import { HttpApi } from './http-api.ts';
import { readAccessTokenClaims } from './jwt-claims.ts';
import { generateMessageId } from './message-id.ts';
import { OrderingBuffer } from './ordering-buffer.ts';
import { Outbox, type OutboxEntry, type SendTarget } from './outbox.ts';
import { MemoryStateStore, type ClientState, type ClientStateStore } from './state-store.ts';
import { StreamCursor } from './stream-cursor.ts';
import { TokenBucket } from './token-bucket.ts';
import { TypedEmitter } from './typed-emitter.ts';
import { TypingSender, TypingTracker, type TypingEvent } from './typing-tracker.ts';
import { resolveWebSocket } from './websocket.ts';

/**
 * Stage of the client's connection life cycle.
 *
 * - `idle`: connect() was never called.
 * - `connecting`: asking the router, opening the socket, waiting for welcome.
 * - `syncing`: welcome received, catching up on the sync stream.
 * - `ready`: caught up; live frames flow.
 * - `waiting`: disconnected, a reconnect is scheduled.
 * - `stopped`: the server or the API rejected the client for good (close 4006, invalid
 *   session); connect() may be called again after fixing the cause.
 * - `closed`: close() was called.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'syncing' | 'ready' | 'waiting' | 'stopped' | 'closed';

/** Payload of the `disconnected` event. */
export interface DisconnectedEvent {
  /** WebSocket close code; 1006 when the socket dropped or went silent. */
  code: number;
  reason: string;
  /** True when the client has scheduled a reconnect. */
  willReconnect: boolean;
}

/** A system message that records a group change, as the `membership` event carries it. */
export type MembershipEvent = MessageFrame & { event: GroupEvent };

/** Events of `SwitchboardClient` and their payloads. */
export interface ClientEvents {
  /**
   * A message, own ones included: each (conv, seq) once, in increasing seq per conversation.
   * System messages of group changes come as `membership` instead, in the same order.
   */
  message: MessageFrame;
  /** A group changed: created, renamed, members added, removed or promoted, or a member left. */
  membership: MembershipEvent;
  /** A subscribed user's presence: the state after `subscribePresence`, then each change. */
  presence: PresenceEntry;
  /** A member started or stopped typing; a start that is not renewed ends on its own. */
  typing: TypingEvent;
  /**
   * A large group or channel has messages up to `seq`. The client fetches those it lacks and
   * emits them as `message` events.
   */
  notice: NoticeFrame;
  /** A member's delivered or read watermark moved forward; each watermark value once. */
  receipt: ReceiptFrame;
  /** A message sent by this client was acknowledged; once per client message id. */
  ack: AckFrame;
  /** A welcome frame arrived on a new connection. */
  connected: WelcomeFrame;
  disconnected: DisconnectedEvent;
  /** An error frame from the node, or a failure the client handled itself (and retries). */
  error: ErrorFrame | Error;
  /** The connection status changed. */
  state: ConnectionStatus;
  /** The tokens changed: after login, register, refresh or useSession. Save them to resume. */
  session: Session;
}

/** Options of one send call. */
export interface SendOptions {
  /** Client message id; generated when absent. Reusing an id resends that message. */
  id?: string;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

/** Gap check of one conversation: a pending timer and the fetches sent without progress. */
interface GapCheck {
  timer: ReturnType<typeof setTimeout> | null;
  attempts: number;
}

/** An access token this close to its expiry is refreshed before it is used for a socket. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000;
/** Cap of the delay between fetches of a gap that the server does not fill. */
const MAX_GAP_RETRY_MS = 5_000;
/** First delay before a send rejected as retryable is sent again. It doubles with each rejection. */
const SEND_RETRY_BASE_MS = 250;
/** Delay before a read is sent again after the node rejected it or it failed. */
const READ_RETRY_MS = 250;
/** Delay before a gap fetch is tried again while another read is in flight. */
const READ_WAIT_MS = 25;
/** After this many 4002 closes in a row, re-routing waits for the backoff. */
const IMMEDIATE_REROUTE_LIMIT = 2;
/** Share of the node's frame rate used for sends; the rest is left for receipts, pings and sync. */
const SEND_RATE_SHARE = 0.8;
/** Backoff attempt used at least after close 4004, so a rate-limited client waits seconds. */
const RATE_LIMITED_MIN_ATTEMPT = 4;
/** While the user keeps typing, a `start` is sent again after this long; nodes keep one 6 s by default. */
const TYPING_RENEW_MS = 3000;

/**
 * Typed client of a Switchboard cluster, for Node and browsers.
 *
 * It logs in over HTTP, requests its chat node from the router, keeps one WebSocket open, and
 * turns the frames into events: messages in sequence order and once each, receipts, acks.
 * It resends unacknowledged messages with the same id, fills sequence gaps with `fetch`,
 * catches up on the sync stream after every reconnect, and persists its position through
 * a ClientStateStore. Use one client per user.
 */
export class SwitchboardClient extends TypedEmitter<ClientEvents> {
  readonly #options: ResolvedClientOptions;
  readonly #api: HttpApi;
  readonly #store: ClientStateStore;

  #status: ConnectionStatus = 'idle';
  #wantConnected = false;
  /** Incremented whenever a connection attempt starts or is cancelled, to drop stale results. */
  #generation = 0;
  #connection: Connection | null = null;
  #welcome: WelcomeFrame | null = null;
  #caughtUp = false;
  #attempt = 0;
  #wrongNodeStreak = 0;
  #redirectUrl: string | null = null;
  #refreshBeforeConnect = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #connectWaiters: Array<Deferred<WelcomeFrame>> = [];
  /** Error that stopped the client, returned to calls made while it stays stopped. */
  #stoppedBy: Error | null = null;

  #ordering = new OrderingBuffer();
  #cursor = new StreamCursor();
  #outbox = new Outbox();
  readonly #pendingSends = new Map<string, Deferred<AckFrame>>();
  #outboxTimer: ReturnType<typeof setInterval> | null = null;
  #sendBucket: TokenBucket | null = null;
  #paceTimer: ReturnType<typeof setTimeout> | null = null;

  readonly #gapChecks = new Map<string, GapCheck>();
  /** The gap fetch in flight. The node handles one read (sync or fetch) per connection at a time. */
  #gapFetch: { conv: string; id: string } | null = null;
  #streamGapTimer: ReturnType<typeof setTimeout> | null = null;
  #syncInFlight = false;
  /** Id of the sync page in flight. An error in response to it carries the id as `ref`. */
  #syncId: string | null = null;
  #syncAgain = false;
  /** True when a sync was requested while a fetch was in flight. It is sent once the fetch completes. */
  #syncAfterFetch = false;
  #syncTimer: ReturnType<typeof setTimeout> | null = null;
  #readCounter = 0;
  /** Highest pong head that a sync was sent for. */
  #pongHeadFollowed = 0;

  /** Highest receipt seq emitted per conversation, user and kind. */
  readonly #receiptMarks = new Map<string, number>();
  readonly #deliveredQueue = new Map<string, number>();
  readonly #deliveredSent = new Map<string, number>();
  readonly #readQueue = new Map<string, number>();
  readonly #readSent = new Map<string, number>();
  #receiptTimer: ReturnType<typeof setTimeout> | null = null;

  /** Live first messages of conversations, held while stream positions below them are missing. */
  #firstHeld: MessageFrame[] = [];
  /** Users whose presence this client follows; sent again after every reconnect. */
  #presenceUsers: string[] = [];
  /** Whether the app is in front of the user; sent again after every reconnect. */
  #activity: ActivityState = 'foreground';
  readonly #typingTracker = new TypingTracker((event) => this.emit('typing', event));
  readonly #typingSender = new TypingSender(TYPING_RENEW_MS);
  readonly #puller: ChannelPuller;

  #stateLoading: Promise<void> | null = null;
  #stateReady = false;
  #saveTimer: ReturnType<typeof setTimeout> | null = null;
  #saving: Promise<void> = Promise.resolve();

  constructor(options: SwitchboardClientOptions) {
    super();
    this.#options = resolveClientOptions(options);
    this.#store = options.state ?? new MemoryStateStore();
    this.#api = new HttpApi({
      apiUrl: this.#options.apiUrl,
      routerUrl: this.#options.routerUrl,
      fetch: this.#options.fetch,
      onSession: (session) => this.emit('session', session),
    });
    this.#puller = new ChannelPuller(
      {
        lastSeq: (conv) => this.#ordering.lastSeq(conv),
        fetchRangeMax: () => this.#welcome?.limits.fetchRangeMax ?? null,
        isReading: () => this.#syncInFlight || this.#gapFetch !== null,
        sendFetch: (conv, from, to) => {
          const id = this.#nextReadId('p');
          return this.#connection?.send({ type: 'fetch', id, conv, from, to }) === true ? id : null;
        },
        readDone: () => this.#afterFetch(),
      },
      this.#options.sendTimeoutMs,
    );
  }

  // -------------------------------------------------------------------------
  // Accessors

  get status(): ConnectionStatus {
    return this.#status;
  }

  get session(): Session | null {
    return this.#api.session;
  }

  /** The logged-in user, when the session came from login or register. */
  get user(): User | null {
    return this.#api.session?.user ?? null;
  }

  /** Id of the logged-in user, from the session, the access token or the welcome frame. */
  get userId(): string | null {
    const session = this.#api.session;
    if (session?.user !== undefined) return session.user.id;
    const subject = session === null ? undefined : readAccessTokenClaims(session.accessToken)?.sub;
    return subject ?? this.#welcome?.user ?? null;
  }

  /** The welcome frame of the open connection, or null while disconnected. */
  get welcome(): WelcomeFrame | null {
    return this.#welcome;
  }

  /** Sync stream position seen without a hole, or null before the first welcome. */
  get streamPosition(): number | null {
    return this.#cursor.position;
  }

  /** Number of messages waiting for their ack. */
  get pendingSendCount(): number {
    return this.#outbox.size;
  }

  /** Returns the highest emitted sequence number of a conversation, or undefined. */
  lastSeq(conv: string): number | undefined {
    return this.#ordering.lastSeq(conv);
  }

  // -------------------------------------------------------------------------
  // HTTP API

  /** Creates an account and starts its session. */
  register(username: string, password: string, displayName?: string): Promise<AuthResponse> {
    return this.#api.register(username, password, displayName);
  }

  /** Logs in and starts the session. */
  login(username: string, password: string): Promise<AuthResponse> {
    return this.#api.login(username, password);
  }

  /** Starts a session from tokens saved earlier (see the `session` event). */
  useSession(session: Session): void {
    this.#api.setSession(session);
  }

  /** Exchanges the refresh token for new tokens. The client also does this on its own. */
  refresh(): Promise<Session> {
    return this.#api.refresh();
  }

  /** Lists the caller's conversations. */
  conversations(): Promise<ConversationSummary[]> {
    return this.#api.conversations();
  }

  /** Reads one page of a conversation's history. */
  history(conv: string, options?: HistoryOptions): Promise<HistoryPage> {
    return this.#api.history(conv, options);
  }

  /** Lists users whose user name starts with `prefix`. */
  searchUsers(prefix: string): Promise<User[]> {
    return this.#api.searchUsers(prefix);
  }

  /** Creates or finds the one-to-one conversation with a user and returns its id. */
  openDirect(userId: string): Promise<string> {
    return this.#api.openDirect(userId);
  }

  /** Creates a group (or, with `kind: 'channel'`, a channel where only admins post); the caller is its admin. */
  createGroup(name: string, options?: CreateGroupOptions): Promise<GroupInfo> {
    return this.#api.createGroup(name, options);
  }

  /** Reads a group of which the caller is a member. `groupId` is the id without `g.`. */
  getGroup(groupId: string): Promise<GroupInfo> {
    return this.#api.getGroup(groupId);
  }

  /** Renames a group; admins only. */
  renameGroup(groupId: string, name: string): Promise<GroupInfo> {
    return this.#api.renameGroup(groupId, name);
  }

  /** Adds users to a group; admins only. They read the group from the event that added them. */
  addMembers(groupId: string, userIds: string[]): Promise<GroupInfo> {
    return this.#api.addMembers(groupId, userIds);
  }

  /** Removes a member from a group; admins only. */
  removeMember(groupId: string, userId: string): Promise<GroupInfo> {
    return this.#api.removeMember(groupId, userId);
  }

  /** Makes a member an admin; admins only. */
  promoteMember(groupId: string, userId: string): Promise<GroupInfo> {
    return this.#api.promoteMember(groupId, userId);
  }

  /** Leaves a group. */
  leaveGroup(groupId: string): Promise<void> {
    return this.#api.leaveGroup(groupId);
  }

  /** Blocks a user: their one-to-one messages are not delivered, and they do not see the caller's presence. */
  block(userId: string): Promise<void> {
    return this.#api.block(userId);
  }

  /** Unblocks a user. Messages sent while the block held stay undelivered. */
  unblock(userId: string): Promise<void> {
    return this.#api.unblock(userId);
  }

  /** Lists the ids of the users the caller blocks. */
  blockedUsers(): Promise<string[]> {
    return this.#api.blockedUsers();
  }

  // -------------------------------------------------------------------------
  // Presence and typing

  /**
   * Follows the presence of `users` (at most the node's `presenceSubscribeMax`, 256 by default),
   * replacing the previous list; an empty list stops. The current state and every change come
   * as `presence` events, and the subscription is renewed after each reconnect.
   */
  subscribePresence(users: string[]): void {
    const unique = [...new Set(users)];
    const invalid = unique.find((user) => !isId(user));
    if (invalid !== undefined) {
      throw new SwitchboardClientError(
        'SWB_ERR_CLIENT_INVALID_ARGUMENT',
        `subscribePresence: ${JSON.stringify(invalid)} is not a user id`,
        false,
      );
    }
    const max = this.#welcome?.limits.presenceSubscribeMax ?? 256;
    if (unique.length > max) {
      throw new SwitchboardClientError(
        'SWB_ERR_CLIENT_INVALID_ARGUMENT',
        `subscribePresence: ${unique.length} users; the node allows at most ${max}`,
        false,
      );
    }
    this.#presenceUsers = unique;
    if (this.#welcome !== null) this.#connection?.send({ type: 'presence.subscribe', users: unique });
  }

  /**
   * Tells the other members of `conv` whether the user is typing. Call it on every keystroke
   * with true and with false when the user stops or sends; the client sends a frame only when
   * needed. Indicators are not stored, and are off in large groups.
   */
  setTyping(conv: string, typing: boolean): void {
    if (this.#welcome === null || this.#connection === null) return;
    const state = this.#typingSender.next(conv, typing);
    if (state !== null) this.#connection.send({ type: 'typing', conv, state });
  }

  /** Activity state last set with `setActivity`, `foreground` at first. */
  get activity(): ActivityState {
    return this.#activity;
  }

  /**
   * Tells the node whether the app is in the foreground. While every connection of the user is
   * in the background, new messages also go out as push notifications to the user's registered
   * devices. The state is kept across reconnects.
   */
  setActivity(state: ActivityState): void {
    if (state !== 'foreground' && state !== 'background') {
      throw new SwitchboardClientError(
        'SWB_ERR_CLIENT_INVALID_ARGUMENT',
        `setActivity: expected "foreground" or "background", got ${JSON.stringify(state)}`,
        false,
      );
    }
    this.#activity = state;
    if (this.#welcome !== null) this.#connection?.send({ type: 'activity', state });
  }

  // -------------------------------------------------------------------------
  // Connection life cycle

  /**
   * Connects and stays connected until close(): requests the node from the router, opens the socket, follows
   * redirects, and resolves after the welcome and the first catch-up sync.
   *
   * Transient failures are retried with backoff, so the promise waits through them. It
   * rejects when the session is missing or rejected, on close code 4006, or on close().
   */
  async connect(): Promise<WelcomeFrame> {
    if (this.#api.session === null) throw new NoSessionError();
    const generation = this.#generation;
    await this.#loadState();
    // close() during the load wins over this call.
    if (this.#generation !== generation && !this.#wantConnected) throw new ClientClosedError();
    if (this.#status === 'ready' && this.#welcome !== null) return this.#welcome;

    const waiter = createDeferred<WelcomeFrame>();
    this.#connectWaiters.push(waiter);
    if (!this.#wantConnected) {
      this.#wantConnected = true;
      this.#attempt = 0;
      void this.#establish(++this.#generation);
    }
    return waiter.promise;
  }

  /**
   * Closes the connection with code 1000 and stops reconnecting. Pending sends reject with
   * ClientClosedError but stay in the saved outbox, so a later connect() resends them.
   */
  async close(): Promise<void> {
    this.#wantConnected = false;
    this.#generation += 1;
    this.#clearReconnectTimer();
    this.#flushReceipts();

    const connection = this.#connection;
    this.#connection = null;
    this.#welcome = null;
    this.#resetConnectionState();
    if (this.#receiptTimer !== null) clearTimeout(this.#receiptTimer);
    this.#receiptTimer = null;
    this.#setStatus('closed');
    this.#typingTracker.clear();
    this.#rejectWaiting(new ClientClosedError());

    if (connection !== null) {
      await connection.close(CloseCode.Normal, 'client closed');
      this.emit('disconnected', { code: CloseCode.Normal, reason: 'client closed', willReconnect: false });
    }
    await this.#saveNow();
  }

  // -------------------------------------------------------------------------
  // Messages and receipts

  /**
   * Sends a message and resolves with its ack.
   *
   * The message waits in the outbox until acknowledged and is resent with the same id after
   * a reconnect or `sendTimeoutMs`, so the server stores it once. It rejects with
   * SendRejectedError when the node returns a non-retryable error frame.
   */
  send(target: SendTarget, body: string, options: SendOptions = {}): Promise<AckFrame> {
    const id = options.id ?? generateMessageId();
    const invalid = checkSendArguments(target, body, id);
    if (invalid !== null) return Promise.reject(invalid);
    if (this.#status === 'closed') return Promise.reject(new ClientClosedError());
    if (this.#status === 'stopped') return Promise.reject(this.#stoppedBy ?? new ClientClosedError());

    const existing = this.#pendingSends.get(id);
    if (existing !== undefined) return existing.promise;

    const deferred = createDeferred<AckFrame>();
    // A caller that follows acks through events may drop the promise, so its rejection is not reported.
    deferred.promise.catch(() => undefined);
    this.#pendingSends.set(id, deferred);
    const normalized: SendTarget = 'to' in target ? { to: target.to } : { conv: target.conv };
    this.#outbox.add({ id, target: normalized, body, createdAt: Date.now() });
    this.#flushOutbox();
    this.#scheduleSave();
    return deferred.promise;
  }

  /**
   * Marks every message up to `seq` in `conv` as read. Receipts are collected for
   * `receiptDelayMs` and held while disconnected; a lower seq than one sent before is ignored.
   */
  markRead(conv: string, seq: number): void {
    if (!Number.isInteger(seq) || seq < 1) {
      throw new SwitchboardClientError(
        'SWB_ERR_CLIENT_INVALID_ARGUMENT',
        `markRead: seq must be a positive integer, got ${String(seq)}`,
        false,
      );
    }
    if (seq <= (this.#readSent.get(conv) ?? 0) || seq <= (this.#readQueue.get(conv) ?? 0)) return;
    this.#readQueue.set(conv, seq);
    this.#scheduleReceipts();
  }

  // -------------------------------------------------------------------------
  // Connecting

  async #establish(generation: number): Promise<void> {
    this.#setStatus('connecting');
    try {
      if (this.#refreshBeforeConnect || this.#accessTokenExpiresSoon()) {
        await this.#api.refresh();
        this.#refreshBeforeConnect = false;
      }
      let url = this.#redirectUrl;
      this.#redirectUrl = null;
      if (url === null) url = (await this.#api.route()).url;
      const WebSocketClass = await resolveWebSocket(this.#options.WebSocket);
      if (generation !== this.#generation) return;

      const session = this.#api.session;
      if (session === null) throw new NoSessionError();
      const socketUrl = new URL(url);
      socketUrl.searchParams.set('access_token', session.accessToken);

      let connection: Connection | null = null;
      connection = new Connection(
        WebSocketClass,
        socketUrl.toString(),
        {
          onFrame: (frame) => {
            if (connection === this.#connection) this.#onFrame(frame);
          },
          onInvalidFrame: (error) => {
            if (connection === this.#connection) this.emit('error', error);
          },
          onClose: (code, reason) => {
            if (connection === this.#connection) this.#onClose(code, reason);
          },
        },
        { firstFrameTimeoutMs: this.#options.connectTimeoutMs },
      );
      this.#connection = connection;
    } catch (err) {
      if (generation !== this.#generation) return;
      const error = toError(err);
      this.emit('error', error);
      if (isFatal(error)) {
        this.#stop(error);
        return;
      }
      this.#scheduleReconnect(this.#nextBackoff());
    }
  }

  #onClose(code: number, reason: string): void {
    this.#connection = null;
    this.#welcome = null;
    this.#resetConnectionState();

    if (!this.#wantConnected) {
      this.emit('disconnected', { code, reason, willReconnect: false });
      return;
    }
    if (code === CloseCode.ProtocolViolation) {
      this.emit('disconnected', { code, reason, willReconnect: false });
      this.#stop(new ConnectionStoppedError(code, reason));
      return;
    }

    this.emit('disconnected', { code, reason, willReconnect: true });
    this.#scheduleReconnect(this.#reconnectDelay(code));
  }

  /** Returns the delay before reconnecting after close `code`, per the close code table. */
  #reconnectDelay(code: number): number {
    if (code !== CloseCode.WrongNode) this.#wrongNodeStreak = 0;
    switch (code) {
      case CloseCode.TokenExpired:
        this.#refreshBeforeConnect = true;
        return 0;
      case CloseCode.WrongNode:
        this.#wrongNodeStreak += 1;
        // A ring change settles within moments, so only a loop of 4002 closes waits for the backoff.
        return this.#wrongNodeStreak <= IMMEDIATE_REROUTE_LIMIT ? 0 : this.#nextBackoff();
      case CloseCode.NodeDraining:
        return Math.floor(Math.random() * this.#options.drainDelayMaxMs);
      case CloseCode.RateLimited:
        this.#attempt = Math.max(this.#attempt, RATE_LIMITED_MIN_ATTEMPT);
        return this.#nextBackoff();
      default:
        return this.#nextBackoff();
    }
  }

  #nextBackoff(): number {
    const delay = computeBackoffDelay(this.#attempt, this.#options.reconnect);
    this.#attempt += 1;
    return delay;
  }

  #scheduleReconnect(delayMs: number): void {
    this.#clearReconnectTimer();
    this.#setStatus('waiting');
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      void this.#establish(++this.#generation);
    }, delayMs);
  }

  #clearReconnectTimer(): void {
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
  }

  /** Stops reconnecting after a final rejection; connect() may start again later. */
  #stop(error: Error): void {
    this.#stoppedBy = error;
    this.#wantConnected = false;
    this.#generation += 1;
    this.#clearReconnectTimer();
    this.#setStatus('stopped');
    this.#rejectWaiting(error);
  }

  #rejectWaiting(error: Error): void {
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    // The entries stay in the outbox and are saved, so a later connect() resends them.
    const sends = [...this.#pendingSends.values()];
    this.#pendingSends.clear();
    for (const send of sends) send.reject(error);
  }

  #accessTokenExpiresSoon(): boolean {
    const session = this.#api.session;
    if (session === null) return false;
    const exp = readAccessTokenClaims(session.accessToken)?.exp;
    return exp !== undefined && exp * 1000 - Date.now() < TOKEN_EXPIRY_MARGIN_MS;
  }

  /** Clears what belongs to one connection: requests in flight and their timers. */
  #resetConnectionState(): void {
    // Held messages lie above the cursor, so the sync after the next welcome brings them again.
    this.#firstHeld = [];
    this.#caughtUp = false;
    this.#syncInFlight = false;
    this.#syncId = null;
    this.#syncAgain = false;
    this.#syncAfterFetch = false;
    this.#gapFetch = null;
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = null;
    if (this.#streamGapTimer !== null) clearTimeout(this.#streamGapTimer);
    this.#streamGapTimer = null;
    for (const check of this.#gapChecks.values()) if (check.timer !== null) clearTimeout(check.timer);
    this.#gapChecks.clear();
    if (this.#outboxTimer !== null) clearInterval(this.#outboxTimer);
    this.#outboxTimer = null;
    if (this.#paceTimer !== null) clearTimeout(this.#paceTimer);
    this.#paceTimer = null;
    this.#sendBucket = null;
    this.#outbox.markAllUnsent();
    this.#puller.reset();
  }

  #setStatus(status: ConnectionStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.emit('state', status);
  }

  // -------------------------------------------------------------------------
  // Frames

  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        this.#onWelcome(frame);
        return;
      case 'ack':
        this.#onAck(frame);
        return;
      case 'message':
        this.#acceptMessage(frame, true);
        return;
      case 'receipt':
        this.#acceptReceipt(frame, true);
        return;
      case 'sync':
        this.#onSync(frame);
        return;
      case 'fetched':
        this.#onFetched(frame);
        return;
      case 'resync':
        this.#requestSync();
        return;
      case 'redirect':
        // The node closes with 4002 next; the new address saves a trip to the router.
        this.#redirectUrl = frame.url;
        return;
      case 'error':
        this.#onErrorFrame(frame);
        return;
      case 'pong':
        this.#onPong(frame);
        return;
      case 'notice':
        this.emit('notice', frame);
        this.#puller.notice(frame.conv, frame.seq);
        return;
      case 'presence':
        for (const entry of frame.users) this.emit('presence', entry);
        return;
      case 'typing':
        this.#typingTracker.receive(frame);
        return;
    }
  }

  #onWelcome(frame: WelcomeFrame): void {
    this.#welcome = frame;
    this.#attempt = 0;
    this.#wrongNodeStreak = 0;
    this.#caughtUp = false;
    this.emit('connected', frame);
    this.#setStatus('syncing');
    // A new connection starts in the foreground, so only a background state needs sending.
    if (this.#activity === 'background') this.#connection?.send({ type: 'activity', state: 'background' });

    const idleMs = frame.limits.idleTimeoutSeconds * 1000;
    const pingMs =
      idleMs > 0 ? Math.min(this.#options.pingIntervalMs, idleMs / 2) : this.#options.pingIntervalMs;
    this.#connection?.startHeartbeat(pingMs);

    const position = this.#cursor.position;
    if (position === null) {
      // A new device starts at the head; older messages come from the history API.
      this.#cursor.advanceTo(frame.head);
      this.#scheduleSave();
      this.#markCaughtUp();
    } else if (frame.head <= position) {
      this.#markCaughtUp();
    } else {
      this.#requestSync();
    }

    // The node drops frames above framesPerSecond, and a dropped send waits sendTimeoutMs.
    const sendRate = Math.max(1, Math.floor(frame.limits.framesPerSecond * SEND_RATE_SHARE));
    this.#sendBucket = new TokenBucket(sendRate, sendRate, Date.now());
    this.#flushOutbox();
    this.#outboxTimer = setInterval(
      () => this.#flushOutbox(),
      Math.max(25, Math.floor(this.#options.sendTimeoutMs / 4)),
    );
    this.#flushReceipts();
    for (const gap of this.#ordering.gaps()) this.#checkGap(gap.conv);
    if (this.#presenceUsers.length > 0) {
      this.#connection?.send({ type: 'presence.subscribe', users: this.#presenceUsers });
    }
    this.#typingSender.reset();
    this.#puller.pump();
  }

  #markCaughtUp(): void {
    if (this.#caughtUp) return;
    this.#caughtUp = true;
    this.#setStatus('ready');
    const welcome = this.#welcome;
    if (welcome === null) return;
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const waiter of waiters) waiter.resolve(welcome);
  }

  #onAck(frame: AckFrame): void {
    const entry = this.#completeSend(frame);
    if (entry === undefined) return;

    // The node also delivers the message itself to this connection. Releasing it from the
    // ack as well closes the sequence early, but only in a conversation that already has
    // lastSeq: as the first message seen it would hide earlier messages still in flight.
    const me = this.userId;
    if (me === null || this.#ordering.lastSeq(frame.conv) === undefined) return;
    this.#acceptMessage(
      {
        type: 'message',
        conv: frame.conv,
        seq: frame.seq,
        from: me,
        id: frame.id,
        body: entry.body,
        ts: frame.ts,
      },
      false,
    );
  }

  /** Removes an acknowledged message from the outbox and settles its promise; once per id. */
  #completeSend(ack: AckFrame): OutboxEntry | undefined {
    const entry = this.#outbox.remove(ack.id);
    if (entry === undefined) return undefined;
    const deferred = this.#pendingSends.get(ack.id);
    this.#pendingSends.delete(ack.id);
    this.emit('ack', ack);
    deferred?.resolve(ack);
    this.#scheduleSave();
    return entry;
  }

  #onErrorFrame(frame: ErrorFrame): void {
    this.emit('error', frame);
    if (frame.ref === undefined) return;
    if (this.#onReadError(frame.ref)) return;
    if (!this.#outbox.has(frame.ref)) return;
    if (frame.retryable) {
      // The entry stays, and goes again after a backoff rather than the whole send timeout.
      const delay = this.#outbox.retryLater(
        frame.ref,
        Date.now(),
        SEND_RETRY_BASE_MS,
        this.#options.sendTimeoutMs,
      );
      if (delay !== null) setTimeout(() => this.#flushOutbox(), delay);
      return;
    }

    this.#outbox.remove(frame.ref);
    const deferred = this.#pendingSends.get(frame.ref);
    this.#pendingSends.delete(frame.ref);
    deferred?.reject(new SendRejectedError(frame.ref, frame));
    this.#scheduleSave();
  }

  #acceptMessage(frame: MessageFrame, live: boolean): void {
    const me = this.userId;
    // A resent message may come back through sync before its second ack, which completes the send.
    if (frame.from === me && this.#outbox.has(frame.id)) {
      this.#completeSend({ type: 'ack', id: frame.id, conv: frame.conv, seq: frame.seq, ts: frame.ts });
    }

    if (live && frame.pos !== undefined && this.#startsAfterHole(frame)) {
      // The first message this device sees of a conversation starts its sequence, so one that
      // overtook earlier messages would make them look like duplicates. It waits until the
      // stream has no hole below it; the earlier messages arrive live or through sync.
      this.#firstHeld.push(frame);
    } else {
      for (const message of this.#ordering.push(frame)) this.#release(message, me);
      this.#checkGap(frame.conv);
    }
    if (live && frame.pos !== undefined) this.#observePosition(frame.pos);
    this.#scheduleSave();
  }

  /** True for a conversation's first message when stream positions below it are still missing. */
  #startsAfterHole(frame: MessageFrame): boolean {
    const position = this.#cursor.position;
    if (position === null || frame.pos === undefined || frame.pos <= position + 1) return false;
    return this.#ordering.lastSeq(frame.conv) === undefined;
  }

  /** Releases held first messages whose stream positions the cursor has reached, lowest seq first. */
  #releaseHeldFirst(): void {
    const position = this.#cursor.position;
    if (this.#firstHeld.length === 0 || position === null) return;
    const due = this.#firstHeld.filter((frame) => frame.pos! <= position);
    if (due.length === 0) return;
    this.#firstHeld = this.#firstHeld.filter((frame) => frame.pos! > position);
    const me = this.userId;
    for (const frame of due.sort((a, b) => a.seq - b.seq)) {
      for (const message of this.#ordering.push(frame)) this.#release(message, me);
      this.#checkGap(frame.conv);
    }
  }

  #release(message: MessageFrame, me: string | null): void {
    if (message.event !== undefined) {
      this.emit('membership', message as MembershipEvent);
      return;
    }
    this.emit('message', message);
    if (this.#options.autoDelivered && message.from !== me) {
      if (message.seq > (this.#deliveredQueue.get(message.conv) ?? 0)) {
        this.#deliveredQueue.set(message.conv, message.seq);
      }
      this.#scheduleReceipts();
    }
  }

  #acceptReceipt(frame: ReceiptFrame, live: boolean): void {
    const key = `${frame.conv}\n${frame.user}\n${frame.kind}`;
    if (frame.seq > (this.#receiptMarks.get(key) ?? 0)) {
      this.#receiptMarks.set(key, frame.seq);
      this.emit('receipt', frame);
    }
    if (live && frame.pos !== undefined) this.#observePosition(frame.pos);
  }

  // -------------------------------------------------------------------------
  // Sequence gaps

  /** Starts, keeps or ends the wait-then-fetch cycle of a conversation's first gap. */
  #checkGap(conv: string): void {
    const gap = this.#ordering.gap(conv);
    const check = this.#gapChecks.get(conv);
    if (gap === null) {
      if (check?.timer != null) clearTimeout(check.timer);
      this.#gapChecks.delete(conv);
      return;
    }
    if (check?.timer != null) return;

    const state: GapCheck = check ?? { timer: null, attempts: 0 };
    const delay = Math.min(this.#options.gapDelayMs * 2 ** state.attempts, MAX_GAP_RETRY_MS);
    state.timer = setTimeout(() => {
      state.timer = null;
      this.#fetchGap(conv, state);
    }, delay);
    this.#gapChecks.set(conv, state);
  }

  #fetchGap(conv: string, state: GapCheck): void {
    const gap = this.#ordering.gap(conv);
    const welcome = this.#welcome;
    if (gap === null || welcome === null || this.#connection === null) {
      // Without a connection the next welcome checks every gap again.
      this.#gapChecks.delete(conv);
      return;
    }
    if (this.#syncInFlight || this.#gapFetch !== null || this.#puller.busy) {
      // The node would reject a second read, so try again shortly.
      state.timer = setTimeout(
        () => {
          state.timer = null;
          this.#fetchGap(conv, state);
        },
        Math.max(READ_WAIT_MS, this.#options.gapDelayMs),
      );
      return;
    }

    const to = Math.min(gap.to, gap.from + welcome.limits.fetchRangeMax - 1);
    const id = this.#nextReadId('g');
    this.#connection.send({ type: 'fetch', id, conv, from: gap.from, to });
    this.#gapFetch = { conv, id };
    state.attempts += 1;
    // A fetch whose response never arrives is sent again.
    state.timer = setTimeout(() => {
      state.timer = null;
      if (this.#gapFetch?.id === id) this.#gapFetch = null;
      this.#checkGap(conv);
      this.#afterFetch();
    }, this.#options.sendTimeoutMs);
  }

  /**
   * Handles an error in response to a sync or fetch, and returns false when `ref` names neither.
   * The read is sent again soon, because the node rejects a read while another is in flight and
   * fails one as retryable while the store lags the log.
   */
  #onReadError(ref: string): boolean {
    if (ref === this.#syncId) {
      this.#syncId = null;
      this.#syncInFlight = false;
      if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = null;
        this.#requestSync();
      }, READ_RETRY_MS);
      return true;
    }
    const gapFetch = this.#gapFetch;
    if (gapFetch !== null && ref === gapFetch.id) {
      this.#gapFetch = null;
      const check = this.#gapChecks.get(gapFetch.conv);
      if (check?.timer != null) clearTimeout(check.timer);
      if (check !== undefined) check.timer = null;
      // The wait before the next fetch grows with the attempts.
      this.#checkGap(gapFetch.conv);
      this.#afterFetch();
      return true;
    }
    if (this.#puller.failed(ref, READ_RETRY_MS)) {
      this.#afterFetch();
      return true;
    }
    return false;
  }

  /** Sends the sync that waited for a fetch, once no fetch is in flight. */
  #afterFetch(): void {
    if (!this.#syncAfterFetch || this.#gapFetch !== null || this.#puller.busy) return;
    this.#syncAfterFetch = false;
    this.#requestSync();
  }

  #nextReadId(prefix: string): string {
    this.#readCounter = (this.#readCounter + 1) % 1_000_000_000;
    return `${prefix}${this.#readCounter.toString(36)}`;
  }

  #onFetched(frame: FetchedFrame): void {
    if (this.#gapFetch?.conv === frame.conv) this.#gapFetch = null;
    const before = this.#ordering.lastSeq(frame.conv);
    const me = this.userId;
    for (const message of frame.messages) {
      for (const released of this.#ordering.push(message)) this.#release(released, me);
    }
    for (const released of this.#ordering.skip(frame.conv, frame.missing)) this.#release(released, me);

    const check = this.#gapChecks.get(frame.conv);
    if (check !== undefined) {
      if (check.timer !== null) clearTimeout(check.timer);
      check.timer = null;
      if (this.#ordering.lastSeq(frame.conv) !== before) check.attempts = 0;
    }
    this.#checkGap(frame.conv);
    this.#scheduleSave();
    this.#puller.fetched(frame.conv);
    this.#puller.pump();
    this.#afterFetch();
  }

  // -------------------------------------------------------------------------
  // Sync stream

  #observePosition(pos: number): void {
    this.#cursor.observe(pos);
    this.#releaseHeldFirst();
    this.#scheduleSave();
    if (!this.#cursor.hasGap) {
      if (this.#streamGapTimer !== null) clearTimeout(this.#streamGapTimer);
      this.#streamGapTimer = null;
      return;
    }
    this.#scheduleStreamGapCheck();
  }

  #scheduleStreamGapCheck(): void {
    if (this.#streamGapTimer !== null || this.#syncInFlight) return;
    this.#streamGapTimer = setTimeout(() => {
      this.#streamGapTimer = null;
      if (this.#cursor.hasGap) this.#requestSync();
    }, this.#options.gapDelayMs);
  }

  /** Asks for the sync stream after the cursor, or queues one more round if one is running. */
  /**
   * Syncs when the pong shows a head above the position and nothing else is catching up. Each
   * head is followed once, because positions with no stored entry (a block, a failed append)
   * keep it above what sync reaches, and a sync on every pong would change nothing.
   */
  #onPong(frame: PongFrame): void {
    const position = this.#cursor.position;
    if (frame.head === undefined || position === null || frame.head <= position) return;
    if (frame.head <= this.#pongHeadFollowed) return;
    if (this.#syncInFlight || this.#streamGapTimer !== null) return;
    this.#pongHeadFollowed = frame.head;
    this.#requestSync();
  }

  #requestSync(): void {
    if (this.#welcome === null || this.#connection === null) return;
    if (this.#syncInFlight) {
      this.#syncAgain = true;
      return;
    }
    if (this.#gapFetch !== null || this.#puller.busy) {
      this.#syncAfterFetch = true;
      return;
    }
    if (this.#streamGapTimer !== null) clearTimeout(this.#streamGapTimer);
    this.#streamGapTimer = null;
    this.#sendSyncPage(this.#cursor.position ?? this.#welcome.head);
  }

  #sendSyncPage(after: number): void {
    const welcome = this.#welcome;
    if (welcome === null || this.#connection === null) return;
    this.#syncInFlight = true;
    const limit = Math.min(this.#options.syncPageSize, welcome.limits.syncPageMax);
    const id = this.#nextReadId('s');
    this.#syncId = id;
    this.#connection.send({ type: 'sync', id, after, limit });
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = setTimeout(() => {
      // No response arrived, so request the page again.
      this.#syncTimer = null;
      this.#syncInFlight = false;
      this.#syncId = null;
      this.#requestSync();
    }, this.#options.sendTimeoutMs);
  }

  #onSync(frame: SyncFrame): void {
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = null;
    this.#syncId = null;
    for (const entry of frame.entries) {
      if (entry.type === 'message') this.#acceptMessage(entry, false);
      else this.#acceptReceipt(entry, false);
    }
    this.#cursor.advanceTo(frame.head);
    this.#releaseHeldFirst();
    this.#scheduleSave();

    const position = this.#cursor.position;
    if (frame.more && position !== null) {
      this.#sendSyncPage(position);
      return;
    }
    this.#syncInFlight = false;
    if (this.#syncAgain) {
      this.#syncAgain = false;
      this.#requestSync();
      return;
    }
    this.#markCaughtUp();
    if (this.#cursor.hasGap) this.#scheduleStreamGapCheck();
    this.#puller.pump();
  }

  // -------------------------------------------------------------------------
  // Outbox and receipts

  #transmit(entry: OutboxEntry): void {
    const frame: SendFrame =
      'to' in entry.target
        ? { type: 'send', id: entry.id, to: entry.target.to, body: entry.body }
        : { type: 'send', id: entry.id, conv: entry.target.conv, body: entry.body };
    if (this.#connection?.send(frame) === true) this.#outbox.markSent(entry.id, Date.now());
  }

  /** Writes the due outbox entries in send order, paced below the node's frame rate. */
  #flushOutbox(): void {
    if (this.#welcome === null || this.#paceTimer !== null) return;
    const now = Date.now();
    for (const entry of this.#outbox.due(now, this.#options.sendTimeoutMs)) {
      const bucket = this.#sendBucket;
      if (bucket !== null && !bucket.take(now)) {
        this.#paceTimer = setTimeout(() => {
          this.#paceTimer = null;
          this.#flushOutbox();
        }, bucket.waitMs(now));
        return;
      }
      this.#transmit(entry);
    }
  }

  #scheduleReceipts(): void {
    if (this.#receiptTimer !== null) return;
    this.#receiptTimer = setTimeout(() => {
      this.#receiptTimer = null;
      this.#flushReceipts();
    }, this.#options.receiptDelayMs);
  }

  /** Sends the collected receipts; those that cannot be sent wait for the next welcome. */
  #flushReceipts(): void {
    const connection = this.#connection;
    if (connection === null || this.#welcome === null) return;
    for (const [queue, sent, kind] of [
      [this.#deliveredQueue, this.#deliveredSent, 'delivered'],
      [this.#readQueue, this.#readSent, 'read'],
    ] as const) {
      for (const [conv, seq] of queue) {
        if (seq > (sent.get(conv) ?? 0) && !connection.send({ type: 'receipt', conv, kind, seq })) return;
        sent.set(conv, Math.max(seq, sent.get(conv) ?? 0));
        queue.delete(conv);
      }
    }
  }

  // -------------------------------------------------------------------------
  // State persistence

  #loadState(): Promise<void> {
    this.#stateLoading ??= this.#applyStoredState();
    return this.#stateLoading;
  }

  async #applyStoredState(): Promise<void> {
    const user = this.userId;
    let state: ClientState | null = null;
    try {
      state = await this.#store.load();
    } catch (err) {
      // An unreadable state costs a catch-up from the welcome head, not the connection.
      this.emit('error', toError(err));
    }

    if (state !== null && state.user === user) {
      this.#cursor = new StreamCursor(state.streamPos);
      this.#ordering = new OrderingBuffer(state.lastSeq);
      for (const message of state.heldBack ?? []) this.#ordering.push(message);
      const outbox = new Outbox(state.outbox);
      for (const entry of this.#outbox.entries()) outbox.add(entry);
      this.#outbox = outbox;
    }
    this.#stateReady = true;
    if (this.#outbox.size > 0) this.#scheduleSave();
  }

  #scheduleSave(): void {
    if (!this.#stateReady || this.#saveTimer !== null) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = null;
      void this.#saveNow();
    }, this.#options.stateSaveDelayMs);
  }

  /** Saves a snapshot now; saves run one after another so a late write never wins. */
  #saveNow(): Promise<void> {
    if (this.#saveTimer !== null) clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
    const user = this.userId;
    if (!this.#stateReady || user === null) return this.#saving;

    const snapshot: ClientState = {
      user,
      streamPos: this.#cursor.position,
      lastSeq: this.#ordering.snapshot(),
      outbox: this.#outbox.entries(),
      heldBack: this.#ordering.heldBack(),
    };
    this.#saving = this.#saving.then(async () => {
      try {
        await this.#store.save(snapshot);
      } catch (err) {
        this.emit('error', toError(err));
      }
    });
    return this.#saving;
  }
}

function createDeferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function checkSendArguments(target: SendTarget, body: string, id: string): Error | null {
  const fail = (message: string) =>
    new SwitchboardClientError('SWB_ERR_CLIENT_INVALID_ARGUMENT', message, false);
  if (typeof target !== 'object' || target === null) return fail('send: target must be { to } or { conv }');
  const hasTo = 'to' in target && typeof target.to === 'string';
  const hasConv = 'conv' in target && typeof target.conv === 'string';
  if (hasTo === hasConv) return fail('send: target needs exactly one of "to" or "conv"');
  if (typeof body !== 'string') return fail('send: body must be a string');
  if (!isId(id))
    return fail(`send: id must be 1-64 characters of A-Z a-z 0-9 _ -, got ${JSON.stringify(id)}`);
  return null;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** True for failures that retrying cannot fix: a rejected session or a wrong API address. */
function isFatal(error: Error): boolean {
  if (error instanceof NetworkError) return false;
  if (error instanceof SwitchboardClientError) return !error.retryable;
  return false;
}
