import { randomBytes } from 'node:crypto';
import {
  AuthError,
  SwitchboardError,
  type Bus,
  type Delivery,
  type DeliveryBatch,
  type Logger,
  type Messenger,
  type NodeInfo,
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
  type ServerFrame,
  type WelcomeFrame,
} from '@switchboard/protocol';
import { DEFAULT_CONNECTION_POLICY, type ConnectionPolicy } from './config.ts';
import { ConnectionTable } from './connection-table.ts';
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
}

type Socket = WebSocket<ConnectionState>;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const SWEEP_INTERVAL_MS = 1000;
/** Return value of uWebSockets.js `send` when the frame was dropped for backpressure. */
const SEND_DROPPED = 2;

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
  #sweeper: NodeJS.Timeout | null = null;
  #draining = false;
  #connCounter = 0;
  readonly #connPrefix = randomBytes(3).toString('hex');

  constructor(options: ChatNodeOptions) {
    this.id = options.id;
    this.#options = options;
    this.#policy = { ...DEFAULT_CONNECTION_POLICY, ...options.policy };
    this.#decodeLimits = {
      maxBodyBytes: this.#policy.maxBodyBytes,
      syncPageMax: this.#policy.syncPageMax,
      fetchRangeMax: this.#policy.fetchRangeMax,
    };
    this.#logger = options.logger.child({ node: options.id });
  }

  /** Listening port, known after `start`. */
  get port(): number {
    return this.#port;
  }

  /** WebSocket URL announced in the membership. */
  get url(): string {
    return this.#options.publicUrl?.(this.#port) ?? `ws://${this.#options.host}:${this.#port}/ws`;
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.#table.size;
  }

  /** Whether the node takes new connections. */
  get ready(): boolean {
    return this.#listenSocket !== null && !this.#draining;
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
      if (this.ready) res.writeHeader('content-type', 'application/json').end('{"status":"ready"}');
      else res.writeStatus('503 Service Unavailable').end('{"status":"draining"}');
    });

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

    this.#unsubscribe = await this.#options.bus.subscribeNode(this.id, (batch) => this.#receiveBatch(batch));
    this.#removePlacementListener = this.#options.placement.onChange(() => this.#rebalance());
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();

    this.#heartbeat = this.#options.createHeartbeat({
      id: this.id,
      url: this.url,
      weight: this.#options.weight ?? 1,
      startedAt: Date.now(),
    });
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
    const sockets = [...this.#table.entries()].map(([, ws]) => ws);
    await this.#closeSpread(sockets, CloseCode.NodeDraining, 'node draining', this.#policy.drainWindowMs);

    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#flushRemote();
    await this.#unsubscribe?.();
    if (this.#listenSocket) uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = null;
    this.#logger.info('chat node stopped');
  }

  /**
   * Stops the node as a crash would, for tests of the embedded profile: sockets are cut
   * without a close frame and the node stays in the membership until its entry expires.
   */
  async crash(): Promise<void> {
    this.#draining = true;
    await this.#heartbeat?.stop({ leave: false });
    this.#removePlacementListener?.();
    if (this.#sweeper) clearInterval(this.#sweeper);
    for (const [, ws] of [...this.#table.entries()]) {
      ws.getUserData().closed = true;
      ws.close();
    }
    this.#pendingRemote.clear();
    await this.#unsubscribe?.();
    if (this.#listenSocket) uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = null;
  }

  // -------------------------------------------------------------------------
  // Connection lifecycle

  #upgrade(res: HttpResponse, req: HttpRequest, context: unknown): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const authorization = req.getHeader('authorization');
    const token =
      req.getQuery('access_token') || (authorization.startsWith('Bearer ') ? authorization.slice(7) : '');

    if (this.#draining) {
      writeHttpError(
        res,
        '503 Service Unavailable',
        ErrorCode.Unavailable,
        'node is draining; ask the router again',
      );
      return;
    }

    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    this.#options.tokens.verifyAccess(token).then(
      (claims) => {
        if (aborted) return;
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
        };
        res.cork(() => {
          res.upgrade(state, key, protocol, extensions, context as never);
        });
      },
      (err: unknown) => {
        if (aborted) return;
        const auth = err instanceof AuthError ? err : null;
        res.cork(() => {
          writeHttpError(
            res,
            '401 Unauthorized',
            auth?.code ?? ErrorCode.AuthTokenInvalid,
            auth?.message ?? 'access token is invalid',
          );
        });
      },
    );
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
    if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug({ connId: state.conn, userId: state.user }, 'connection opened');
    }
    this.#options.messenger.streamHead(state.user).then(
      (head) => this.#sendFrame(ws, this.#buildWelcome(state, head)),
      (err: unknown) => {
        this.#logger.warn({ err, connId: state.conn, userId: state.user }, 'stream head lookup failed');
        this.#sendFrame(ws, this.#buildWelcome(state, 0));
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
      },
    };
  }

  #close(ws: Socket, code: number): void {
    const state = ws.getUserData();
    state.closed = true;
    this.#table.delete(state.user, ws);
    this.#behind.delete(ws);
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
    if (frame.type === 'sync' || frame.type === 'fetch') {
      // Reads are the costly frames: each reads the store and may build a large reply. They
      // take more of the rate bucket, and one at a time, so no connection can hold the event
      // loop with a queue of them.
      state.tokens -= this.#policy.readFrameCost - 1;
      if (state.reading) {
        this.#sendFrame(ws, {
          type: 'error',
          code: ErrorCode.RateLimited,
          message: `one ${frame.type} at a time per connection; wait for the answer to the previous one`,
          retryable: true,
        });
        return;
      }
      state.reading = true;
    }
    this.#dispatch(ws, state, frame)
      .catch((err: unknown) => {
        this.#replyError(ws, state, err, 'id' in frame ? frame.id : undefined);
      })
      .finally(() => {
        if (frame.type === 'sync' || frame.type === 'fetch') state.reading = false;
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
        const accepted = await messenger.send(state.user, frame);
        this.#sendFrame(ws, accepted.ack);
        if (accepted.record !== null) this.#deliver(messenger.buildDeliveries(accepted.record));
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
        this.#sendFrame(
          ws,
          frame.id === undefined
            ? { type: 'pong', ts: Date.now() }
            : { type: 'pong', id: frame.id, ts: Date.now() },
        );
        return;
      }
    }
  }

  #reject(ws: Socket, state: ConnectionState, code: ErrorCode, message: string, ref?: string): void {
    state.invalidFrames++;
    const frame: ErrorFrame = { type: 'error', code, message, retryable: RETRYABLE_CODES.has(code) };
    if (ref !== undefined) frame.ref = ref;
    this.#sendFrame(ws, frame);
    if (state.invalidFrames >= this.#policy.maxInvalidFrames) {
      this.#closeWith(ws, state, CloseCode.ProtocolViolation, 'too many invalid frames');
    }
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
      this.#closeWith(ws, state, CloseCode.SlowConsumer, 'slow consumer');
    }
  }

  /**
   * Delivers frames to their users: to connections on this node, and in one batch per
   * remote owner, flushed once per event-loop turn so that a burst of sends shares publishes.
   */
  #deliver(deliveries: UserDelivery[]): void {
    const placement = this.#options.placement;
    for (const delivery of deliveries) {
      // Local connections get the frame even when the ring has just moved the user away:
      // they are still open until the rebalance window closes them.
      this.#sendLocal(delivery.user, delivery.frame);
      const owner = placement.ownerOf(delivery.user);
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
    for (const delivery of batch.deliveries) this.#sendLocal(delivery.user, delivery.frame);
  }

  #sendLocal(user: string, frame: string): void {
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
        continue;
      }
      ws.send(frame, false);
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
    void this.#closeSpread(moved, CloseCode.WrongNode, 'wrong node', this.#policy.rebalanceWindowMs, (ws) => {
      const owner = this.#options.placement.ownerOf(ws.getUserData().user);
      return owner !== null && owner.id !== this.id;
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
}

function writeHttpError(res: HttpResponse, status: string, code: ErrorCode, message: string): void {
  res
    .writeStatus(status)
    .writeHeader('content-type', 'application/json')
    .end(JSON.stringify({ error: { code, message, retryable: RETRYABLE_CODES.has(code) } }));
}
