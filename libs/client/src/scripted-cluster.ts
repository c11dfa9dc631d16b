/**
 * Test support: a scripted stand-in for the router, the HTTP API and chat nodes, bound to
 * 127.0.0.1 on free ports. It speaks the wire protocol just enough for the client tests and
 * the terminal chat test; each test can replace how a node greets and responds.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  buildDirectConversationId,
  decodeClientFrame,
  type ClientFrame,
  type MessageFrame,
  type ServerFrame,
  type WelcomeFrame,
} from '@switchboard/protocol';
import { WebSocket, WebSocketServer } from 'ws';
import type { HistoryMessage, User } from './api-types.ts';

/** Default limits of scripted welcome frames. */
export const SCRIPTED_LIMITS: WelcomeFrame['limits'] = {
  maxFrameBytes: 16384,
  maxBodyBytes: 4096,
  framesPerSecond: 50,
  idleTimeoutSeconds: 60,
  syncPageMax: 500,
  fetchRangeMax: 100,
};

/** Builds an unsigned JWT-shaped token whose payload carries `sub`, `exp` and a nonce. */
export function buildFakeToken(userId: string, nonce: number, expiresInSeconds = 900): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + expiresInSeconds;
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: userId, exp, n: nonce })}.unsigned`;
}

/** Waits until `check` returns a value other than undefined, null or false. */
export async function waitFor<T>(
  check: () => T | undefined | null | false,
  message: string,
  timeoutMs = 3000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Settles like `promise`, or rejects with a message naming `what` after `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = 3000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One accepted socket on a scripted node. */
export class ScriptedSocket {
  readonly node: ScriptedNode;
  readonly socket: WebSocket;
  /** Access token from the `access_token` query parameter. */
  readonly token: string | null;
  readonly user: string;
  /** Client frames received on this socket, in order. */
  readonly frames: ClientFrame[] = [];
  closeCode: number | null = null;
  readonly closed: Promise<number>;

  constructor(node: ScriptedNode, socket: WebSocket, token: string | null, user: string) {
    this.node = node;
    this.socket = socket;
    this.token = token;
    this.user = user;
    this.closed = new Promise((resolve) => {
      socket.on('close', (code) => {
        this.closeCode = code;
        resolve(code);
      });
    });
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: ServerFrame): void {
    if (this.isOpen) this.socket.send(JSON.stringify(frame));
  }

  welcome(
    head: number = this.node.cluster.streamHead(this.user),
    limits: WelcomeFrame['limits'] = SCRIPTED_LIMITS,
  ): void {
    this.send({
      type: 'welcome',
      protocol: 1,
      node: this.node.name,
      user: this.user,
      conn: `c${this.node.sockets.length}`,
      ringVersion: 'r1',
      head,
      limits,
    });
  }

  framesOf<T extends ClientFrame['type']>(type: T): Array<Extract<ClientFrame, { type: T }>> {
    return this.frames.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type);
  }
}

type ConnectionScript = (socket: ScriptedSocket) => void;
type FrameScript = (socket: ScriptedSocket, frame: ClientFrame) => void;

/** A chat node: a WebSocket server whose greeting and responses a test can replace. */
export class ScriptedNode {
  readonly name: string;
  readonly cluster: ScriptedCluster;
  readonly sockets: ScriptedSocket[] = [];
  /** Runs on each new socket; by default sends welcome. */
  onConnection: ConnectionScript = (socket) => socket.welcome();
  /** Runs on each client frame; by default `answerFrame` (ack, pong, empty sync). */
  onFrame: FrameScript = (socket, frame) => this.answerFrame(socket, frame);
  readonly #server: WebSocketServer;
  #url = '';

  private constructor(name: string, cluster: ScriptedCluster, server: WebSocketServer) {
    this.name = name;
    this.cluster = cluster;
    this.#server = server;
  }

  static async start(name: string, cluster: ScriptedCluster): Promise<ScriptedNode> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const node = new ScriptedNode(name, cluster, server);
    node.#url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
    server.on('connection', (socket, request) => node.#accept(socket, request));
    return node;
  }

  /** WebSocket URL without a token. */
  get url(): string {
    return this.#url;
  }

  /** Every client frame received by this node, in order. */
  framesOf<T extends ClientFrame['type']>(type: T): Array<Extract<ClientFrame, { type: T }>> {
    return this.sockets.flatMap((socket) => socket.framesOf(type));
  }

  /** Sends the default responses of a well-behaved node. */
  answerFrame(socket: ScriptedSocket, frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        socket.send({
          type: 'pong',
          ...(frame.id === undefined ? {} : { id: frame.id }),
          ts: Date.now(),
          head: this.cluster.streamHead(socket.user),
        });
        return;
      case 'sync':
        socket.send({ type: 'sync', entries: [], head: this.cluster.streamHead(socket.user), more: false });
        return;
      case 'send':
        this.cluster.acceptSend(socket, frame);
        return;
      case 'fetch':
        socket.send({ type: 'fetched', conv: frame.conv, messages: [], missing: [] });
        return;
      case 'receipt':
        return;
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.socket.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: WebSocket, request: IncomingMessage): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const token = url.searchParams.get('access_token');
    const user = token === null ? null : this.cluster.userOfToken(token);
    if (user === null) {
      socket.close(4001, 'invalid token');
      return;
    }
    const scripted = new ScriptedSocket(this, socket, token, user);
    this.sockets.push(scripted);
    socket.on('message', (data) => {
      const result = decodeClientFrame(String(data));
      if (!result.ok) {
        scripted.send({ type: 'error', code: result.code, message: result.message, retryable: false });
        return;
      }
      scripted.frames.push(result.frame);
      this.onFrame(scripted, result.frame);
    });
    this.onConnection(scripted);
  }
}

interface StoredUser extends User {
  password: string;
}

/** Router, HTTP API and nodes of a scripted cluster, with the state they share. */
export class ScriptedCluster {
  readonly nodes = new Map<string, ScriptedNode>();
  /** Node that `GET /v1/route` names. */
  routeTo!: ScriptedNode;
  /** Authorization headers of every `GET /v1/route`, in order. */
  readonly routeRequests: Array<string | undefined> = [];
  refreshCount = 0;
  /** Every message accepted through a scripted node, per conversation. */
  readonly messages = new Map<string, MessageFrame[]>();
  readonly #server: Server;
  readonly #users = new Map<string, StoredUser>();
  readonly #accessTokens = new Map<string, string>();
  readonly #refreshTokens = new Map<string, string>();
  readonly #streamHeads = new Map<string, number>();
  readonly #seqs = new Map<string, number>();
  readonly #acks = new Map<string, MessageFrame>();
  #nonce = 0;
  #apiUrl = '';

  private constructor() {
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((err: unknown) => {
        response
          .writeHead(500)
          .end(JSON.stringify({ error: { code: 'SWB_ERR_INTERNAL', message: String(err) } }));
      });
    });
  }

  static async start(nodeNames: string[] = ['node-a']): Promise<ScriptedCluster> {
    const cluster = new ScriptedCluster();
    await new Promise<void>((resolve) => cluster.#server.listen(0, '127.0.0.1', () => resolve()));
    cluster.#apiUrl = `http://127.0.0.1:${(cluster.#server.address() as AddressInfo).port}`;
    for (const name of nodeNames) cluster.nodes.set(name, await ScriptedNode.start(name, cluster));
    cluster.routeTo = cluster.node(nodeNames[0]!);
    cluster.addUser({ id: 'u_alice', username: 'alice', displayName: 'Alice', password: 'secret123' });
    cluster.addUser({ id: 'u_bob', username: 'bob', displayName: 'Bob', password: 'secret123' });
    return cluster;
  }

  get apiUrl(): string {
    return this.#apiUrl;
  }

  node(name: string): ScriptedNode {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no scripted node named ${name}`);
    return node;
  }

  addUser(user: StoredUser): void {
    this.#users.set(user.username, user);
  }

  /** Issues tokens for a user as login does. */
  issueTokens(userId: string): { accessToken: string; refreshToken: string } {
    this.#nonce += 1;
    const accessToken = buildFakeToken(userId, this.#nonce);
    const refreshToken = `refresh-${this.#nonce}`;
    this.#accessTokens.set(accessToken, userId);
    this.#refreshTokens.set(refreshToken, userId);
    return { accessToken, refreshToken };
  }

  /** Makes an access token invalid, as if it had expired. */
  revokeAccessToken(token: string): void {
    this.#accessTokens.delete(token);
  }

  userOfToken(token: string): string | null {
    return this.#accessTokens.get(token) ?? null;
  }

  streamHead(user: string): number {
    return this.#streamHeads.get(user) ?? 0;
  }

  setStreamHead(user: string, head: number): void {
    this.#streamHeads.set(user, head);
  }

  /** Takes the next stream position of a user. */
  nextPosition(user: string): number {
    const pos = this.streamHead(user) + 1;
    this.#streamHeads.set(user, pos);
    return pos;
  }

  /** Takes the next sequence number of a conversation. */
  nextSeq(conv: string): number {
    const seq = (this.#seqs.get(conv) ?? 0) + 1;
    this.#seqs.set(conv, seq);
    return seq;
  }

  /**
   * Accepts a send as the real node does: one sequence number per (sender, id), an ack,
   * then the message to every open socket of both members, the sender's included.
   */
  acceptSend(socket: ScriptedSocket, frame: Extract<ClientFrame, { type: 'send' }>): void {
    const key = `${socket.user}\n${frame.id}`;
    const earlier = this.#acks.get(key);
    if (earlier !== undefined) {
      socket.send({ type: 'ack', id: frame.id, conv: earlier.conv, seq: earlier.seq, ts: earlier.ts });
      return;
    }
    const conv = frame.conv ?? buildDirectConversationId(socket.user, frame.to!);
    const message: MessageFrame = {
      type: 'message',
      conv,
      seq: this.nextSeq(conv),
      from: socket.user,
      id: frame.id,
      body: frame.body,
      ts: Date.now(),
    };
    this.#acks.set(key, message);
    this.messages.set(conv, [...(this.messages.get(conv) ?? []), message]);
    socket.send({ type: 'ack', id: frame.id, conv, seq: message.seq, ts: message.ts });
    this.deliver(message);
  }

  /** Sends a message to every open socket of the members of its conversation. */
  deliver(message: MessageFrame): void {
    const members = message.conv.split('.').slice(1);
    for (const member of new Set(members)) {
      const pos = this.nextPosition(member);
      for (const node of this.nodes.values()) {
        for (const socket of node.sockets) {
          if (socket.user === member && socket.isOpen) socket.send({ ...message, pos });
        }
      }
    }
  }

  async close(): Promise<void> {
    for (const node of this.nodes.values()) await node.stop();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const body = await readJson(request);
    const reply = (status: number, value: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    const fail = (status: number, code: string, message: string) => {
      reply(status, { error: { code, message, retryable: false } });
    };

    if (request.method === 'POST' && url.pathname === '/v1/auth/login') {
      const user = this.#users.get(String(body.username));
      if (user === undefined || user.password !== body.password) {
        fail(401, 'SWB_ERR_AUTH_INVALID_CREDENTIALS', 'invalid user name or password');
        return;
      }
      reply(200, { user: publicUser(user), ...this.issueTokens(user.id), expiresIn: 900 });
      return;
    }
    if (request.method === 'POST' && url.pathname === '/v1/auth/register') {
      const username = String(body.username);
      if (this.#users.has(username)) {
        fail(409, 'SWB_ERR_USERNAME_TAKEN', 'user name is taken');
        return;
      }
      const user: StoredUser = {
        id: `u_${username}`,
        username,
        displayName: typeof body.displayName === 'string' ? body.displayName : username,
        password: String(body.password),
      };
      this.addUser(user);
      reply(201, { user: publicUser(user), ...this.issueTokens(user.id), expiresIn: 900 });
      return;
    }
    if (request.method === 'POST' && url.pathname === '/v1/auth/refresh') {
      const userId = this.#refreshTokens.get(String(body.refreshToken));
      if (userId === undefined) {
        fail(401, 'SWB_ERR_AUTH_REFRESH_INVALID', 'refresh token is unknown or used');
        return;
      }
      this.#refreshTokens.delete(String(body.refreshToken));
      this.refreshCount += 1;
      reply(200, { ...this.issueTokens(userId), expiresIn: 900 });
      return;
    }

    const authorization = request.headers.authorization;
    const userId = this.userOfToken(authorization?.replace(/^Bearer /, '') ?? '');
    if (url.pathname === '/v1/route') this.routeRequests.push(authorization);
    if (userId === null) {
      fail(401, 'SWB_ERR_AUTH_TOKEN_EXPIRED', 'access token has expired; refresh it');
      return;
    }

    if (request.method === 'GET' && url.pathname === '/v1/route') {
      reply(200, { node: this.routeTo.name, url: this.routeTo.url, ringVersion: 'r1' });
      return;
    }
    if (request.method === 'GET' && url.pathname === '/v1/users') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const users = [...this.#users.values()].filter((u) => u.username.startsWith(prefix)).map(publicUser);
      reply(200, { users });
      return;
    }
    if (request.method === 'POST' && url.pathname === '/v1/conversations/direct') {
      reply(200, { id: buildDirectConversationId(userId, String(body.userId)) });
      return;
    }
    if (request.method === 'GET' && url.pathname === '/v1/conversations') {
      reply(200, { conversations: [] });
      return;
    }
    const history = /^\/v1\/conversations\/([^/]+)\/messages$/.exec(url.pathname);
    if (request.method === 'GET' && history !== null) {
      const conv = decodeURIComponent(history[1]!);
      const limit = Number(url.searchParams.get('limit') ?? 20);
      const all: HistoryMessage[] = (this.messages.get(conv) ?? []).map(
        ({ type: _type, pos: _pos, ...m }) => m,
      );
      reply(200, { messages: all.reverse().slice(0, limit), nextCursor: null });
      return;
    }
    fail(404, 'SWB_ERR_NOT_FOUND', `no route ${request.method} ${url.pathname}`);
  }
}

function publicUser(user: StoredUser): User {
  return { id: user.id, username: user.username, displayName: user.displayName };
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}
