import { randomBytes } from 'node:crypto';
import {
  AuthError,
  DEFAULT_MEMBERSHIP_REFRESH_MS,
  type AccessClaims,
  Readiness,
  SwitchboardError,
  type Bus,
  type ClusterEvent,
  type DependencyProbe,
  type ReadinessReport,
  type Delivery,
  type DeliveryBatch,
  type DurableLog,
  type Logger,
  type Messenger,
  type NodeInfo,
  type PushJob,
  type TokenIssuer,
  type Unsubscribe,
  type UserDelivery,
} from '@switchboard/core';
import {
  CloseCode,
  decodeClientFrame,
  ErrorCode,
  PROTOCOL_VERSION,
  RETRYABLE_CODES,
  type ClientFrame,
  type DecodeLimits,
  type ErrorFrame,
  type MessageFrame,
  type PongFrame,
  type ResyncFrame,
  type ServerFrame,
  type TypingFrame,
  type TypingRequestFrame,
  type WelcomeFrame,
} from '@switchboard/protocol';
import { SwitchboardMetrics, type NodeMetrics } from '@switchboard/metrics';
import { DEFAULT_CONNECTION_POLICY, type ConnectionPolicy } from './config.ts';
import { ConnectionTable } from './connection-table.ts';
import { ChannelNotifier, type OfflineRecipients } from './channel-notifier.ts';
import { PresenceHub } from './presence-hub.ts';
import { PushJobQueue, type PushJobStats } from './push-job-queue.ts';
import { DEFAULT_REALTIME_POLICY, type RealtimePolicy } from './realtime-config.ts';
import { TypingGate } from './typing-gate.ts';
import { uws, type HttpRequest, type HttpResponse, type us_listen_socket, type WebSocket } from './uws.ts';

/** Where users live: the ring as this node sees it. */
export interface Placement {
  ownerOf(user: string): NodeInfo | null;
  readonly ringVersion: string;
  /** Calls `listener` after the ring changed. Returns a function that removes it. */
  onChange(listener: () => void): () => void;
}

/** This node's entry in the membership, kept alive while the node runs. */
export interface Heartbeat {
  start(): Promise<void>;
  stop(options: { leave: boolean }): Promise<void>;
  /** Calls `listener` when a heartbeat found the node's entry expired. Returns a remover. */
  onRejoin(listener: () => void): () => void;
}

export interface ChatNodeOptions {
  /** Node id, unique in the cluster. */
  id: string;
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  bus: Bus;
  placement: Placement;
  /** Builds the heartbeat once the node knows its listening port and public URL. */
  createHeartbeat: (node: NodeInfo) => Heartbeat;
  /** Public WebSocket URL for `port`; defaults to ws://host:port/ws. */
  publicUrl?: (port: number) => string;
  weight?: number;
  messenger: Messenger;
  tokens: TokenIssuer;
  logger: Logger;
  policy?: Partial<ConnectionPolicy>;
  /**
   * Instruments of the process, of which the node uses `metrics.forNode(id)`. A private set
   * when left out.
   */
  metrics?: SwitchboardMetrics;
  /**
   * Whether GET /metrics on the chat port renders `metrics`, true by default. The embedded
   * profile serves its one registry on its HTTP app instead.
   */
  serveMetrics?: boolean;
  /** Probes of the bus, log and store. GET /readyz returns 503 while one of them fails. */
  dependencies?: DependencyProbe[];
  /** Notices, presence and typing settings. */
  realtime?: Partial<RealtimePolicy>;
  /**
   * Called at most once per large group per notice interval with the members this node owns
   * that had no foreground connection. The node makes their `channel` push jobs either way.
   * Logs their number at debug by default.
   */
  onOfflineRecipients?: (batch: OfflineRecipients) => void;
  /**
   * The push-jobs log. The node appends a job for each message delivered to a user it owns who
   * has no foreground connection here, and for large-group notices (docs/architecture.md).
   * Without it the node makes no push jobs.
   */
  pushJobs?: DurableLog<PushJob>;
}

/** Per-connection state, kept small: a node holds tens of thousands of these. */
interface ConnectionState {
  conn: string;
  user: string;
  /** Access token expiry, seconds since the epoch. */
  exp: number;
  closed: boolean;
  behind: boolean;
  behindSince: number;
  tokens: number;
  refilledAt: number;
  rateLimitHits: number;
  invalidFrames: number;
  /** True while a sync or fetch of this connection is being answered. */
  reading: boolean;
  /** True after the client sent `activity` with `background`; new connections are in the foreground. */
  background: boolean;
  /** True once the welcome was written. */
  welcomed: boolean;
}

type Socket = WebSocket<ConnectionState>;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const SWEEP_INTERVAL_MS = 1000;
/** How long a pong waits for the stream head before it goes without one. */
const PONG_HEAD_WAIT_MS = 1000;
/** A stream head lookup for a welcome at least this slow is logged. */
const SLOW_HEAD_LOOKUP_MS = 1000;
/**
 * After a rejoin, how long until every other process's ring has the node back: change
 * notices arrive at once, and a view that missed one re-reads the members on its refresh.
 */
const RING_SETTLE_MS = DEFAULT_MEMBERSHIP_REFRESH_MS + 500;
/** Return value of uWebSockets.js `send` when the frame was dropped for backpressure. */
const SEND_DROPPED = 2;
/** An Authorization header with a bearer token, as the API reads it. */
const BEARER_PATTERN = /^Bearer +([^ ]+) *$/i;

/**
 * A chat node: authenticates WebSocket upgrades, keeps the table of open connections,
 * runs the message path for frames from its users and delivers frames to them, locally or
 * through the node that owns the recipient.
 */
export class ChatNode {
  readonly id: string;
  readonly #options: ChatNodeOptions;
  readonly #policy: ConnectionPolicy;
  readonly #decodeLimits: DecodeLimits;
  readonly #logger: Logger;
  readonly #table = new ConnectionTable<Socket>();
  readonly #behind = new Set<Socket>();
  readonly #pendingRemote = new Map<string, Delivery[]>();
  #flushScheduled = false;
  #listenSocket: us_listen_socket | null = null;
  #port = 0;
  #heartbeat: Heartbeat | null = null;
  #unsubscribe: Unsubscribe | null = null;
  #removePlacementListener: (() => void) | null = null;
  #removeMissListeners: Array<() => void> = [];
  #settleTimer: NodeJS.Timeout | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  #draining = false;
  #connCounter = 0;
  readonly #connPrefix = randomBytes(3).toString('hex');
  readonly #metrics: SwitchboardMetrics;
  readonly #stats: NodeMetrics;
  readonly #readiness: Readiness;
  /** Frames whose handling has started and not finished. stop() waits for them. */
  #inFlight = 0;
  #idle: (() => void) | null = null;
  readonly #realtime: RealtimePolicy;
  readonly #presence: PresenceHub<Socket>;
  readonly #channels: ChannelNotifier;
  readonly #typingGate: TypingGate<Socket>;
  readonly #pushJobs: PushJobQueue | null;
  #unsubscribeEvents: Unsubscribe | null = null;

  constructor(options: ChatNodeOptions) {
    this.id = options.id;
    this.#options = options;
    this.#policy = { ...DEFAULT_CONNECTION_POLICY, ...options.policy };
    this.#realtime = { ...DEFAULT_REALTIME_POLICY, ...options.realtime };
    this.#decodeLimits = {
      maxBodyBytes: this.#policy.maxBodyBytes,
      syncPageMax: this.#policy.syncPageMax,
      fetchRangeMax: this.#policy.fetchRangeMax,
      presenceSubscribeMax: this.#realtime.presenceSubscribeMax,
    };
    this.#logger = options.logger.child({ node: options.id });
    this.#metrics = options.metrics ?? new SwitchboardMetrics({ processMetrics: false });
    this.#stats = this.#metrics.forNode(options.id);
    this.#readiness = new Readiness({
      probes: options.dependencies,
      conditions: [
        {
          name: 'accepting',
          failure: () => this.#notAcceptingReason(),
        },
      ],
    });
    this.#presence = this.#buildPresenceHub();
    this.#pushJobs =
      options.pushJobs === undefined
        ? null
        : new PushJobQueue({ log: options.pushJobs, logger: this.#logger.child({ component: 'push-jobs' }) });
    this.#channels = this.#buildChannelNotifier();
    this.#typingGate = new TypingGate(this.#realtime.typingPerSecond);
  }

  /** Listening port, known after `start`. */
  get port(): number {
    return this.#port;
  }

  /** WebSocket URL announced in the membership. */
  get url(): string {
    return this.#options.publicUrl?.(this.#port) ?? `ws://${this.#options.host}:${this.#port}/ws`;
  }

  /** Push jobs appended, failed and dropped since start; null without a push-jobs log. */
  get pushJobStats(): Readonly<PushJobStats> | null {
    return this.#pushJobs?.stats ?? null;
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.#table.size;
  }

  /** Whether the node takes new connections. */
  get ready(): boolean {
    return this.#listenSocket !== null && !this.#draining;
  }

  /** Checks that the node takes connections and its dependencies respond, as GET /readyz does. */
  readiness(): Promise<ReadinessReport> {
    return this.#readiness.report();
  }

  /** Starts listening, subscribes to this node's channel and joins the ring. */
  async start(): Promise<void> {
    const app = uws.App();
    app.ws<ConnectionState>('/ws', {
      maxPayloadLength: this.#policy.maxFrameBytes * 4,
      idleTimeout: this.#policy.idleTimeoutSeconds,
      maxBackpressure: this.#policy.sendBufferBytes * 2,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.#upgrade(res, req, context),
      open: (ws) => this.#open(ws),
      message: (ws, data, isBinary) => this.#message(ws, data, isBinary),
      drain: (ws) => this.#drain(ws),
      close: (ws, code) => this.#close(ws, code),
    });
    app.get('/healthz', (res) => {
      res.writeHeader('content-type', 'application/json').end('{"status":"ok"}');
    });
    app.get('/readyz', (res) => {
      this.#answerLater(res, async () => {
        const report = await this.#readiness.report();
        const status = report.status === 'ready' ? 200 : 503;
        return { status, type: 'application/json', body: JSON.stringify(report) };
      });
    });
    if (this.#options.serveMetrics ?? true) {
      app.get('/metrics', (res) => {
        this.#answerLater(res, async () => ({
          status: 200,
          type: this.#metrics.contentType,
          body: await this.#metrics.render(),
        }));
      });
    }

    this.#listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen(this.#options.host, this.#options.port, (socket) => {
        if (socket) resolve(socket);
        else
          reject(
            new Error(`chat node ${this.id} failed to listen on ${this.#options.host}:${this.#options.port}`),
          );
      });
    });
    this.#port = uws.us_socket_local_port(this.#listenSocket);
    this.#stats.setConnectionSource(() => this.#table.size);

    this.#unsubscribe = await this.#options.bus.subscribeNode(this.id, (batch) => this.#receiveBatch(batch));
    this.#unsubscribeEvents = await this.#options.bus.subscribeEvents((event) => this.#onClusterEvent(event));
    this.#presence.start();
    this.#removePlacementListener = this.#options.placement.onChange(() => this.#rebalance());
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();

    this.#heartbeat = this.#options.createHeartbeat({
      id: this.id,
      url: this.url,
      weight: this.#options.weight ?? 1,
      startedAt: Date.now(),
    });
    this.#removeMissListeners = [
      this.#heartbeat.onRejoin(() => this.#resyncAfterRejoin()),
      this.#options.bus.onResubscribed(() => this.#resyncAll('bus')),
    ];
    await this.#heartbeat.start();
    this.#logger.info({ port: this.#port, url: this.url }, 'chat node started');
  }

  /**
   * Drains the node: leaves the ring, closes every connection with 4003 spread over the
   * drain window so clients do not all reconnect at once, then stops listening.
   */
  async stop(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.#logger.info({ connections: this.#table.size }, 'chat node draining');

    await this.#heartbeat?.stop({ leave: true });
    this.#removePlacementListener?.();
    this.#stopMissListeners();
    const sockets = [...this.#table.entries()].map(([, ws]) => ws);
    await this.#closeSpread(sockets, CloseCode.NodeDraining, 'node draining', this.#policy.drainWindowMs);
    // A send still in handling may yet append to the log. The caller closes the log only
    // after this resolves, so that append is flushed rather than cut off.
    await this.#awaitIdle();

    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#flushRemote();
    this.#presence.stop();
    this.#channels.stop();
    await this.#unsubscribeEvents?.();
    await this.#unsubscribe?.();
    // The caller closes the push-jobs log after this resolves, so queued jobs are appended first.
    await this.#pushJobs?.drain();
    if (this.#listenSocket) uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = null;
    this.#stats.setConnectionSource(null);
    this.#logger.info('chat node stopped');
  }

  /**
   * Stops the node as a crash would, for tests of the embedded profile: sockets are cut
   * without a close frame and the node stays in the membership until its entry expires.
   */
  async crash(): Promise<void> {
    this.#draining = true;
    // Stopped first, so the cut connections below leave their presence to expire, as after kill -9.
    this.#presence.stop();
    this.#channels.stop();
    await this.#heartbeat?.stop({ leave: false });
    this.#removePlacementListener?.();
    this.#stopMissListeners();
    if (this.#sweeper) clearInterval(this.#sweeper);
    for (const [, ws] of [...this.#table.entries()]) {
      ws.getUserData().closed = true;
      ws.close();
    }
    this.#pendingRemote.clear();
    await this.#unsubscribeEvents?.();
    await this.#unsubscribe?.();
    if (this.#listenSocket) uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = null;
    this.#stats.setConnectionSource(null);
  }

  // -------------------------------------------------------------------------
  // Connection lifecycle

  #upgrade(res: HttpResponse, req: HttpRequest, context: unknown): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const authorization = req.getHeader('authorization');
    // The query parameter is for browsers, which cannot set headers on a WebSocket. The header
    // follows the API's rule: the scheme in any case, then spaces, then the token.
    const queryToken = req.getQuery('access_token');
    const bearer = BEARER_PATTERN.exec(authorization);
    const token = queryToken || bearer?.[1] || '';
    const malformedHeader = !queryToken && authorization.length > 0 && bearer === null;

    if (this.#draining) {
      writeHttpError(
        res,
        '503 Service Unavailable',
        ErrorCode.Unavailable,
        'node is draining; ask the router again',
      );
      return;
    }

    // Verified synchronously so that the upgrade happens inside this handler, which uWS corks.
    // uWebSockets.js fixed a bug after 20.30 where cork() after an async upgrade closed the socket.
    let claims: AccessClaims;
    try {
      if (malformedHeader) {
        throw new AuthError(
          ErrorCode.AuthTokenInvalid,
          'Authorization header is invalid. Expected "Bearer <access token>"',
        );
      }
      claims = this.#options.tokens.verifyAccessNow(token);
    } catch (err) {
      const auth = err instanceof AuthError ? err : null;
      writeHttpError(
        res,
        '401 Unauthorized',
        auth?.code ?? ErrorCode.AuthTokenInvalid,
        auth?.message ?? 'access token is invalid',
      );
      return;
    }
    const state: ConnectionState = {
      conn: `${this.#connPrefix}${(this.#connCounter++).toString(36)}`,
      user: claims.sub,
      exp: claims.exp,
      closed: false,
      behind: false,
      behindSince: 0,
      tokens: this.#policy.framesPerSecond * 2,
      refilledAt: Date.now(),
      rateLimitHits: 0,
      invalidFrames: 0,
      reading: false,
      background: false,
      welcomed: false,
    };
    res.upgrade(state, key, protocol, extensions, context as never);
  }

  #open(ws: Socket): void {
    const state = ws.getUserData();
    const owner = this.#options.placement.ownerOf(state.user);
    if (owner !== null && owner.id !== this.id) {
      this.#sendFrame(ws, {
        type: 'redirect',
        node: owner.id,
        url: owner.url,
        ringVersion: this.#options.placement.ringVersion,
      });
      state.closed = true;
      ws.end(CloseCode.WrongNode, 'wrong node');
      return;
    }

    const open = this.#table.get(state.user);
    if (open !== undefined && open.size >= this.#policy.maxConnectionsPerUser) {
      state.closed = true;
      ws.end(CloseCode.TooManyConnections, 'too many connections');
      return;
    }
    this.#table.add(state.user, ws);
    this.#presence.connected({ user: state.user, device: state.conn });
    if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug({ connId: state.conn, userId: state.user }, 'connection opened');
    }
    const lookupStartedAt = Date.now();
    // Logged while still pending, so a lookup that never ends shows in the log too.
    const slow = setTimeout(() => {
      this.#logger.warn({ connId: state.conn, userId: state.user }, 'slow stream head lookup');
    }, SLOW_HEAD_LOOKUP_MS);
    this.#options.messenger.streamHead(state.user).then(
      (head) => {
        clearTimeout(slow);
        const tookMs = Date.now() - lookupStartedAt;
        if (tookMs >= SLOW_HEAD_LOOKUP_MS) {
          this.#logger.warn({ connId: state.conn, userId: state.user, tookMs }, 'stream head lookup done');
        }
        this.#sendFrame(ws, this.#buildWelcome(state, head));
        state.welcomed = true;
      },
      (err: unknown) => {
        clearTimeout(slow);
        // A welcome with a guessed head would let the client skip a sync it needs.
        this.#logger.warn({ err, connId: state.conn, userId: state.user }, 'stream head lookup failed');
        this.#closeWith(ws, state, CloseCode.TryAgainLater, 'stream head unavailable');
      },
    );
  }

  #buildWelcome(state: ConnectionState, head: number): WelcomeFrame {
    return {
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      node: this.id,
      user: state.user,
      conn: state.conn,
      ringVersion: this.#options.placement.ringVersion,
      head,
      limits: {
        maxFrameBytes: this.#policy.maxFrameBytes,
        maxBodyBytes: this.#policy.maxBodyBytes,
        framesPerSecond: this.#policy.framesPerSecond,
        idleTimeoutSeconds: this.#policy.idleTimeoutSeconds,
        syncPageMax: this.#policy.syncPageMax,
        fetchRangeMax: this.#policy.fetchRangeMax,
        presenceSubscribeMax: this.#realtime.presenceSubscribeMax,
      },
    };
  }

  #close(ws: Socket, code: number): void {
    const state = ws.getUserData();
    if (!state.closed && !state.welcomed) {
      // The client or the transport ended the connection before its welcome was written.
      this.#logger.info(
        { connId: state.conn, userId: state.user, code },
        'connection closed before its welcome',
      );
    }
    state.closed = true;
    const wasOpen = this.#table.get(state.user)?.has(ws) === true;
    this.#table.delete(state.user, ws);
    this.#behind.delete(ws);
    // Only connections that were in the table announced a device.
    if (wasOpen) this.#presence.disconnected(ws, { user: state.user, device: state.conn });
    if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug({ connId: state.conn, userId: state.user, code }, 'connection closed');
    }
  }

  // -------------------------------------------------------------------------
  // Inbound frames

  #message(ws: Socket, data: ArrayBuffer, isBinary: boolean): void {
    const state = ws.getUserData();
    if (!this.#admit(ws, state)) return;

    if (isBinary) {
      this.#reject(ws, state, ErrorCode.FrameBinary, 'binary frames are not accepted; send JSON text frames');
      return;
    }
    if (data.byteLength > this.#policy.maxFrameBytes) {
      this.#reject(
        ws,
        state,
        ErrorCode.FrameTooLarge,
        `frame is ${data.byteLength} bytes; the limit (maxFrameBytes) is ${this.#policy.maxFrameBytes}`,
      );
      return;
    }
    let text: string;
    try {
      text = utf8.decode(data);
    } catch {
      this.#reject(ws, state, ErrorCode.FrameInvalidUtf8, 'frame is not valid UTF-8');
      return;
    }
    const result = decodeClientFrame(text, this.#decodeLimits);
    if (!result.ok) {
      this.#reject(ws, state, result.code, result.message, result.ref);
      return;
    }

    state.invalidFrames = 0;
    const frame = result.frame;
    this.#stats.frameReceived(frame.type);
    if (frame.type === 'sync' || frame.type === 'fetch') {
      // Reads are the costly frames: each reads the store and may build a large reply. They
      // take more of the rate bucket, and one at a time, so no connection can hold the event
      // loop with a queue of them.
      state.tokens -= this.#policy.readFrameCost - 1;
      if (state.reading) {
        this.#stats.rateLimited();
        const busy: ErrorFrame = {
          type: 'error',
          code: ErrorCode.RateLimited,
          message: 'one sync or fetch at a time per connection; wait for the answer to the previous one',
          retryable: true,
        };
        if (frame.id !== undefined) busy.ref = frame.id;
        this.#sendFrame(ws, busy);
        return;
      }
      state.reading = true;
    }
    this.#inFlight++;
    this.#dispatch(ws, state, frame)
      .catch((err: unknown) => {
        this.#replyError(ws, state, err, 'id' in frame ? frame.id : undefined);
      })
      .finally(() => {
        if (frame.type === 'sync' || frame.type === 'fetch') state.reading = false;
        this.#inFlight--;
        if (this.#inFlight === 0) this.#idle?.();
      });
  }

  /** Applies the frame-rate bucket. Returns false when the frame must be dropped. */
  #admit(ws: Socket, state: ConnectionState): boolean {
    const now = Date.now();
    const rate = this.#policy.framesPerSecond;
    state.tokens = Math.min(rate * 2, state.tokens + ((now - state.refilledAt) * rate) / 1000);
    state.refilledAt = now;
    if (state.tokens >= 1) {
      state.tokens -= 1;
      state.rateLimitHits = 0;
      return true;
    }

    state.rateLimitHits++;
    this.#stats.rateLimited();
    if (state.rateLimitHits > this.#policy.rateLimitCloseAfter) {
      this.#closeWith(ws, state, CloseCode.RateLimited, 'rate limited');
      return false;
    }
    // One error per burst is enough for the client to slow down; more would amplify the flood.
    if (state.rateLimitHits === 1 || state.rateLimitHits % rate === 0) {
      this.#sendFrame(ws, {
        type: 'error',
        code: ErrorCode.RateLimited,
        message: `more than ${rate} frames per second (framesPerSecond); frames are being dropped`,
        retryable: true,
      });
    }
    return false;
  }

  async #dispatch(ws: Socket, state: ConnectionState, frame: ClientFrame): Promise<void> {
    const messenger = this.#options.messenger;
    switch (frame.type) {
      case 'send': {
        const started = performance.now();
        const accepted = await messenger.send(state.user, frame);
        this.#sendFrame(ws, accepted.ack);
        this.#stats.ackSent((performance.now() - started) / 1000);
        if (accepted.record !== null) {
          this.#stats.messageAccepted();
          if (accepted.fanout === 'notice') {
            this.#publishEvent({
              kind: 'channel-advanced',
              conv: accepted.record.conv,
              seq: accepted.record.seq,
              from: accepted.record.from,
            });
          } else {
            this.#deliver(messenger.buildDeliveries(accepted.record), accepted.record.ts);
          }
        }
        return;
      }
      case 'receipt': {
        const record = await messenger.receipt(state.user, frame);
        this.#deliver(messenger.buildDeliveries(record));
        return;
      }
      case 'sync': {
        const page = await messenger.sync(
          state.user,
          frame.after,
          frame.limit ?? this.#policy.syncPageDefault,
        );
        this.#sendFrame(ws, page);
        return;
      }
      case 'fetch': {
        this.#sendFrame(ws, await messenger.fetch(state.user, frame));
        return;
      }
      case 'ping': {
        // The head lets a client that stays connected find a delivery lost without a trace.
        // Pings come only after a quiet spell, so the read is rare. A pong goes without it.
        const head = await this.#streamHeadWithin(state.user, PONG_HEAD_WAIT_MS);
        const pong: PongFrame = { type: 'pong', ts: Date.now() };
        if (frame.id !== undefined) pong.id = frame.id;
        if (head !== undefined) pong.head = head;
        this.#sendFrame(ws, pong);
        return;
      }
      case 'presence.subscribe': {
        await this.#presence.subscribe(ws, state.user, frame.users);
        return;
      }
      case 'typing': {
        await this.#typing(ws, state, frame);
        return;
      }
      case 'activity': {
        state.background = frame.state === 'background';
        return;
      }
    }
  }

  // -------------------------------------------------------------------------
  // Groups, presence and typing

  /** Sends a typing indicator to the other members of the conversation. */
  async #typing(ws: Socket, state: ConnectionState, frame: TypingRequestFrame): Promise<void> {
    if (!this.#typingGate.admit(ws)) return;
    const recipients = await this.#options.messenger.typingRecipients(state.user, frame.conv);
    const typing: TypingFrame = { type: 'typing', conv: frame.conv, user: state.user, state: frame.state };
    if (frame.state === 'start') typing.expiresIn = this.#realtime.typingTtlMs;
    const text = JSON.stringify(typing);
    this.#deliver(recipients.map((user) => ({ user, frame: text })));
  }

  #onClusterEvent(event: ClusterEvent): void {
    const messenger = this.#options.messenger;
    switch (event.kind) {
      case 'conversation-changed':
        messenger.invalidateConversation(event.conv);
        return;
      case 'records':
        // Every node hears the event, so each writes only to its own connections.
        for (const record of event.records) {
          for (const delivery of messenger.buildDeliveries(record)) {
            this.#sendLocal(delivery.user, delivery.frame, 'remote', record.ts);
          }
        }
        return;
      case 'channel-advanced':
        this.#channels.advance(event.conv, event.seq, event.from);
        return;
      case 'block-changed':
        messenger.invalidateBlock(event.blocker, event.blocked);
        this.#presence.blockChanged(event.blocker, event.blocked).catch((err: unknown) => {
          this.#logger.warn({ err, userId: event.blocked }, 'presence update after a block failed');
        });
        return;
    }
  }

  #publishEvent(event: ClusterEvent): void {
    this.#options.bus.publishEvent(event).catch((err: unknown) => {
      // Live notices are best effort: members still pull when they open the group.
      this.#logger.warn({ err, kind: event.kind }, 'cluster event publish failed');
    });
  }

  #buildPresenceHub(): PresenceHub<Socket> {
    return new PresenceHub<Socket>({
      bus: this.#options.bus,
      logger: this.#logger,
      ttlMs: this.#realtime.presenceTtlMs,
      intervalMs: this.#realtime.presenceIntervalMs,
      devices: () => this.#devices(),
      send: (ws, frame) => this.#sendFrame(ws, frame),
      blockersOf: (user) => this.#options.messenger.blockersOf(user),
    });
  }

  *#devices(): Generator<{ user: string; device: string }> {
    for (const [user, ws] of this.#table.entries()) yield { user, device: ws.getUserData().conn };
  }

  #buildChannelNotifier(): ChannelNotifier {
    const report =
      this.#options.onOfflineRecipients ??
      ((batch: OfflineRecipients) => {
        if (this.#logger.isLevelEnabled('debug')) {
          this.#logger.debug(
            { conv: batch.conv, seq: batch.seq, offline: batch.users.length },
            'offline recipients',
          );
        }
      });
    const onOffline = (batch: OfflineRecipients): void => {
      report(batch);
      this.#queueChannelJobs(batch);
    };
    return new ChannelNotifier({
      intervalMs: this.#realtime.noticeIntervalMs,
      logger: this.#logger,
      nodeId: this.id,
      placement: this.#options.placement,
      loadGroup: (conv) => this.#options.messenger.loadGroup(conv),
      connectedUsers: () => this.#table.users(),
      connectedUserCount: () => this.#table.userCount(),
      isConnected: (user) => this.#table.get(user) !== undefined,
      isAway: (user) => !this.#hasForeground(user),
      sendToUser: (user, frame) => this.#sendLocal(user, frame, 'local', undefined),
      onOfflineRecipients: onOffline,
    });
  }

  #reject(ws: Socket, state: ConnectionState, code: ErrorCode, message: string, ref?: string): void {
    state.invalidFrames++;
    this.#stats.frameReceived('invalid');
    const frame: ErrorFrame = { type: 'error', code, message, retryable: RETRYABLE_CODES.has(code) };
    if (ref !== undefined) frame.ref = ref;
    this.#sendFrame(ws, frame);
    if (state.invalidFrames >= this.#policy.maxInvalidFrames) {
      this.#closeWith(ws, state, CloseCode.ProtocolViolation, 'too many invalid frames');
    }
  }

  /** Resolves the user's stream head, or undefined when it fails or takes over `waitMs`. */
  #streamHeadWithin(user: string, waitMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      this.#options.messenger.streamHead(user).then(
        (head) => {
          clearTimeout(timer);
          resolve(head);
        },
        () => {
          clearTimeout(timer);
          resolve(undefined);
        },
      );
    });
  }

  #replyError(ws: Socket, state: ConnectionState, err: unknown, ref: string | undefined): void {
    let frame: ErrorFrame;
    if (err instanceof SwitchboardError) {
      frame = { type: 'error', code: err.code, message: err.message, retryable: err.retryable };
    } else {
      this.#logger.error({ err, connId: state.conn, userId: state.user }, 'frame handling failed');
      frame = {
        type: 'error',
        code: ErrorCode.Internal,
        message: 'internal error; retry later',
        retryable: true,
      };
    }
    if (ref !== undefined) frame.ref = ref;
    this.#sendFrame(ws, frame);
  }

  // -------------------------------------------------------------------------
  // Outbound frames and delivery

  /**
   * Sends a reply to this connection's own request.
   *
   * Replies (acks, sync pages, errors) are never dropped in silence: when the transport
   * refuses one for backpressure, the connection is closed with 4005 and the client resyncs
   * and resends with the same ids.
   */
  #sendFrame(ws: Socket, frame: ServerFrame): void {
    const state = ws.getUserData();
    if (state.closed) return;
    if (ws.send(JSON.stringify(frame), false) === SEND_DROPPED) {
      this.#stats.slowConsumer('closed');
      this.#closeWith(ws, state, CloseCode.SlowConsumer, 'slow consumer');
      return;
    }
    this.#stats.frameSent(frame.type);
  }

  /**
   * Delivers frames to their users: to connections on this node, and in one batch per
   * remote owner, flushed once per event-loop turn so that a burst of sends shares publishes.
   */
  #deliver(deliveries: UserDelivery[], acceptedAt?: number): void {
    const placement = this.#options.placement;
    for (const delivery of deliveries as Delivery[]) {
      // The accept time travels with remote deliveries for the send-to-deliver latency.
      if (acceptedAt !== undefined) delivery.ts = acceptedAt;
      // Local connections get the frame even when the ring has just moved the user away:
      // they are still open until the rebalance window closes them.
      this.#sendLocal(delivery.user, delivery.frame, 'local', acceptedAt);
      const owner = placement.ownerOf(delivery.user);
      if (owner?.id === this.id) this.#queueMessageJob(delivery.user, delivery.frame);
      if (owner === null || owner.id === this.id) continue;
      let pending = this.#pendingRemote.get(owner.id);
      if (pending === undefined) {
        pending = [];
        this.#pendingRemote.set(owner.id, pending);
      }
      pending.push(delivery);
    }
    if (this.#pendingRemote.size > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushRemote());
    }
  }

  #flushRemote(): void {
    this.#flushScheduled = false;
    for (const [nodeId, deliveries] of this.#pendingRemote) {
      const batch: DeliveryBatch = { from: this.id, deliveries };
      this.#stats.crossNodePublish();
      this.#options.bus.publishToNode(nodeId, batch).catch((err: unknown) => {
        // Live delivery is best effort: the recipient's sync stream still has the entries.
        this.#logger.warn(
          { err, target: nodeId, deliveries: deliveries.length },
          'cross-node publish failed',
        );
      });
    }
    this.#pendingRemote.clear();
  }

  #receiveBatch(batch: DeliveryBatch): void {
    const placement = this.#options.placement;
    let forward: Map<string, Delivery[]> | null = null;
    for (const delivery of batch.deliveries) {
      this.#sendLocal(delivery.user, delivery.frame, 'remote', delivery.ts);
      const owner = placement.ownerOf(delivery.user);
      // A forwarded batch stops here, so rings that disagree cannot bounce it around.
      if (owner === null || owner.id === this.id || batch.forwarded === true) {
        this.#queueMessageJob(delivery.user, delivery.frame);
        continue;
      }
      // The sender's ring is older than this node's, because a node that just joined or came
      // back owns the user now. Pass the delivery on once, so a ring change loses no live frame.
      forward ??= new Map();
      let deliveries = forward.get(owner.id);
      if (deliveries === undefined) {
        deliveries = [];
        forward.set(owner.id, deliveries);
      }
      deliveries.push(delivery);
    }
    if (forward === null) return;
    for (const [nodeId, deliveries] of forward) {
      this.#stats.crossNodePublish();
      const forwarded: DeliveryBatch = { from: this.id, deliveries, forwarded: true };
      this.#options.bus.publishToNode(nodeId, forwarded).catch((err: unknown) => {
        this.#logger.warn({ err, target: nodeId, deliveries: deliveries.length }, 'forward failed');
      });
    }
  }

  // -------------------------------------------------------------------------
  // Deliveries this node missed

  /**
   * Tells every connection here to sync: live deliveries to them may have gone elsewhere
   * or been lost, and the stream has every entry.
   */
  #resyncAll(reason: ResyncFrame['reason']): void {
    if (this.#draining) return;
    let connections = 0;
    for (const [, ws] of this.#table.entries()) {
      this.#sendFrame(ws, { type: 'resync', reason });
      connections++;
    }
    this.#logger.info({ reason, connections }, 'asked connections to resync');
  }

  /**
   * While this node was out of the membership, every other process placed its users on
   * other nodes. They resync now, and once more when every ring has the node back.
   */
  #resyncAfterRejoin(): void {
    this.#resyncAll('ring');
    if (this.#settleTimer !== null) clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = null;
      this.#resyncAll('ring');
    }, RING_SETTLE_MS);
    this.#settleTimer.unref();
  }

  #stopMissListeners(): void {
    for (const remove of this.#removeMissListeners) remove();
    this.#removeMissListeners = [];
    if (this.#settleTimer !== null) clearTimeout(this.#settleTimer);
    this.#settleTimer = null;
  }

  // -------------------------------------------------------------------------
  // Push jobs

  /** Returns whether `user` has an open connection here whose app is in the foreground. */
  #hasForeground(user: string): boolean {
    const sockets = this.#table.get(user);
    if (sockets === undefined) return false;
    for (const ws of sockets) {
      const state = ws.getUserData();
      if (!state.closed && !state.background) return true;
    }
    return false;
  }

  /**
   * Queues a push job when `frame`, delivered to `user` whom this node owns, is another user's
   * message and `user` has no foreground connection here. Receipts, typing and group-change
   * messages make none. A blocker is never a target of the blocked sender's messages, so the
   * frame never reaches them.
   */
  #queueMessageJob(user: string, frame: string): void {
    if (this.#pushJobs === null || this.#hasForeground(user)) return;
    // buildMessageFrame writes `type` first, so other frames are skipped without parsing them.
    if (!frame.startsWith('{"type":"message"')) return;
    const message = JSON.parse(frame) as MessageFrame;
    if (message.from === user || message.event !== undefined) return;
    this.#pushJobs.add({
      id: `${message.conv}:${message.seq}:${user}`,
      user,
      conv: message.conv,
      seq: message.seq,
      from: message.from,
      kind: 'message',
      body: message.body,
      ts: message.ts,
      attempts: 0,
    });
  }

  /** Queues a `channel` job for each away member of a notice, except the sender of its latest message. */
  #queueChannelJobs(batch: OfflineRecipients): void {
    // A notice advanced only by group changes (members joining or leaving) pushes nothing.
    if (this.#pushJobs === null || batch.from === undefined) return;
    const ts = Date.now();
    for (const user of batch.users) {
      if (user === batch.from) continue;
      this.#pushJobs.add({
        id: `${batch.conv}:${batch.seq}:${user}`,
        user,
        conv: batch.conv,
        seq: batch.seq,
        from: batch.from,
        kind: 'channel',
        ts,
        attempts: 0,
      });
    }
  }

  /**
   * Writes a serialized frame to every open connection of `user` on this node.
   *
   * @param path whether the frame was built on this node or came from another over the bus
   * @param acceptedAt accept time of the message in the frame, when it carries one
   */
  #sendLocal(user: string, frame: string, path: 'local' | 'remote', acceptedAt: number | undefined): void {
    const sockets = this.#table.get(user);
    if (sockets === undefined) return;
    for (const ws of sockets) {
      const state = ws.getUserData();
      if (state.closed || state.behind) continue;
      if (ws.getBufferedAmount() > this.#policy.sendBufferBytes) {
        // Stop writing instead of buffering without bound; the client resyncs when drained.
        state.behind = true;
        state.behindSince = Date.now();
        this.#behind.add(ws);
        this.#stats.slowConsumer('behind');
        continue;
      }
      ws.send(frame, false);
      this.#stats.deliveryWritten(frame, path, acceptedAt);
    }
  }

  #drain(ws: Socket): void {
    const state = ws.getUserData();
    if (!state.behind || ws.getBufferedAmount() > this.#policy.sendBufferBytes / 2) return;
    state.behind = false;
    this.#behind.delete(ws);
    this.#sendFrame(ws, { type: 'resync', reason: 'behind' });
  }

  // -------------------------------------------------------------------------
  // Housekeeping

  /** Closes connections that stayed behind too long or whose token expired. */
  #sweep(): void {
    const now = Date.now();
    for (const ws of this.#behind) {
      const state = ws.getUserData();
      if (now - state.behindSince > this.#policy.slowConsumerCloseMs) {
        this.#behind.delete(ws);
        this.#stats.slowConsumer('closed');
        this.#closeWith(ws, state, CloseCode.SlowConsumer, 'slow consumer');
      }
    }
    const nowSeconds = Math.floor(now / 1000);
    for (const [, ws] of this.#table.entries()) {
      const state = ws.getUserData();
      if (state.exp <= nowSeconds) this.#closeWith(ws, state, CloseCode.TokenExpired, 'token expired');
    }
  }

  /** Closes, spread over the rebalance window, the connections whose users the ring moved away. */
  #rebalance(): void {
    if (this.#draining) return;
    const moved: Socket[] = [];
    for (const [user, ws] of this.#table.entries()) {
      const owner = this.#options.placement.ownerOf(user);
      if (owner !== null && owner.id !== this.id) moved.push(ws);
    }
    if (moved.length === 0) return;
    this.#logger.info(
      { moved: moved.length, ringVersion: this.#options.placement.ringVersion },
      'ring changed',
    );
    // Ownership is checked again at close time: a ring that flapped back within the window
    // (a node missed heartbeats during a pause) must not disconnect users it gave back.
    // Those users resync instead, because deliveries to them went to the other owner meanwhile.
    void this.#closeSpread(moved, CloseCode.WrongNode, 'wrong node', this.#policy.rebalanceWindowMs, (ws) => {
      const owner = this.#options.placement.ownerOf(ws.getUserData().user);
      if (owner !== null && owner.id !== this.id) return true;
      this.#sendFrame(ws, { type: 'resync', reason: 'ring' });
      return false;
    });
  }

  /** Closes sockets at random offsets within `windowMs`, and resolves when all are closed. */
  #closeSpread(
    sockets: Socket[],
    code: number,
    reason: string,
    windowMs: number,
    stillDue: (ws: Socket) => boolean = () => true,
  ): Promise<void> {
    if (sockets.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let remaining = sockets.length;
      for (const ws of sockets) {
        setTimeout(() => {
          if (stillDue(ws)) this.#closeWith(ws, ws.getUserData(), code, reason);
          remaining--;
          if (remaining === 0) resolve();
        }, Math.random() * windowMs);
      }
    });
  }

  #closeWith(ws: Socket, state: ConnectionState, code: number, reason: string): void {
    if (state.closed) return;
    state.closed = true;
    ws.end(code, reason);
  }

  /** Returns why the node takes no connections, or null while it takes them. */
  #notAcceptingReason(): string | null {
    if (this.ready) return null;
    return this.#draining ? 'draining' : 'not listening';
  }

  /** Resolves once no frame is being handled. */
  #awaitIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle = () => {
        this.#idle = null;
        resolve();
      };
    });
  }

  /** Answers an HTTP request once `produce` resolves, unless the client went away first. */
  #answerLater(
    res: HttpResponse,
    produce: () => Promise<{ status: number; type: string; body: string }>,
  ): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    produce().then(
      (answer) => {
        if (aborted) return;
        res.cork(() => {
          res
            .writeStatus(answer.status === 200 ? '200 OK' : '503 Service Unavailable')
            .writeHeader('content-type', answer.type)
            .writeHeader('cache-control', 'no-store')
            .end(answer.body);
        });
      },
      (err: unknown) => {
        this.#logger.error({ err }, 'operations request failed');
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('500 Internal Server Error').end();
        });
      },
    );
  }
}

function writeHttpError(res: HttpResponse, status: string, code: ErrorCode, message: string): void {
  res
    .writeStatus(status)
    .writeHeader('content-type', 'application/json')
    .end(JSON.stringify({ error: { code, message, retryable: RETRYABLE_CODES.has(code) } }));
}
