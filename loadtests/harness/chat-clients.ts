/**
 * One client per system under test, all with the same shape: connect as a user, send a
 * 100-byte message to another user with a client id, learn when the server acknowledged it,
 * and receive messages. The load worker drives every system through this interface.
 */
import { io, type Socket as SocketIoSocket } from 'socket.io-client';
import { openRawWebSocket, type RawWebSocket } from './raw-websocket.ts';

/** Wire protocols the harness speaks. */
export type ChatProtocol = 'switchboard' | 'relay' | 'socketio' | 'centrifugo';

/** Address and identity of one client connection. */
export interface Endpoint {
  protocol: ChatProtocol;
  /**
   * `switchboard`: the node's ws:// URL; `relay`: the relay's ws:// URL; `socketio`: the
   * server's http:// origin; `centrifugo`: the ws:// URL of /connection/websocket.
   */
  url: string;
  userId: string;
  /** Access token (Switchboard) or connection JWT (Centrifugo). */
  token?: string;
}

/** A connected client. The worker sets the callbacks right after `openChatClient` resolves. */
export interface ChatClient {
  send(to: string, id: string, body: string): void;
  onAck: (id: string) => void;
  onMessage: (from: string, body: string) => void;
  onClose: (code: number) => void;
  close(): void;
  /** Bytes queued in the client's socket, to see whether the generator keeps up. */
  readonly bufferedBytes: number;
}

const NOOP = () => {};

/** Opens a client and resolves once the server is ready to take messages from it. */
export function openChatClient(endpoint: Endpoint, localAddress: string | undefined): Promise<ChatClient> {
  switch (endpoint.protocol) {
    case 'switchboard':
    case 'relay':
      return openJsonFrameClient(endpoint, localAddress);
    case 'socketio':
      return openSocketIoClient(endpoint, localAddress);
    case 'centrifugo':
      return openCentrifugoClient(endpoint, localAddress);
  }
}

/** Builds the ws:// URL of one connection of the JSON-frame protocols. */
export function buildJsonFrameUrl(endpoint: Endpoint): string {
  const query =
    endpoint.protocol === 'switchboard'
      ? `access_token=${encodeURIComponent(endpoint.token ?? '')}`
      : `user=${encodeURIComponent(endpoint.userId)}`;
  return `${endpoint.url}?${query}`;
}

/**
 * Switchboard's protocol v1, and the bare relay, which speaks the same `send`, `ack`,
 * `message` and `welcome` frames. Both deliver a message back to the sender's own connection
 * as well; those echoes are skipped.
 */
async function openJsonFrameClient(
  endpoint: Endpoint,
  localAddress: string | undefined,
): Promise<ChatClient> {
  const ws = await openRawWebSocket({
    url: buildJsonFrameUrl(endpoint),
    ...(localAddress ? { localAddress } : {}),
  });
  const client: ChatClient = {
    send(to, id, body) {
      ws.sendText(JSON.stringify({ type: 'send', id, to, body }));
    },
    onAck: NOOP,
    onMessage: NOOP,
    onClose: NOOP,
    close: () => ws.close(),
    get bufferedBytes() {
      return ws.bufferedBytes;
    },
  };
  await new Promise<void>((resolve, reject) => {
    ws.onClose = (code) => reject(new Error(`${endpoint.protocol} closed with ${code} before welcome`));
    ws.onText = (text) => {
      const frame = JSON.parse(text) as { type: string };
      if (frame.type === 'welcome') resolve();
      else reject(new Error(`expected welcome from ${endpoint.url}, got ${text.slice(0, 200)}`));
    };
  });
  ws.onClose = (code) => client.onClose(code);
  ws.onText = (text) => {
    const frame = JSON.parse(text) as { type: string; id?: string; from?: string; body?: string };
    if (frame.type === 'ack') client.onAck(frame.id!);
    else if (frame.type === 'message' && frame.from !== endpoint.userId)
      client.onMessage(frame.from!, frame.body!);
  };
  return client;
}

/**
 * Socket.IO over its WebSocket transport only (no long-polling start), with the user id in
 * the handshake `auth`. `send` uses a Socket.IO acknowledgement, which the server calls once
 * it handed the message to the Redis adapter.
 */
async function openSocketIoClient(endpoint: Endpoint, localAddress: string | undefined): Promise<ChatClient> {
  const socket: SocketIoSocket = io(endpoint.url, {
    transports: ['websocket'],
    auth: { user: endpoint.userId },
    reconnection: false,
    forceNew: true,
    timeout: 30_000,
    ...(localAddress ? { localAddress } : {}),
  } as Parameters<typeof io>[1]);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  const client: ChatClient = {
    send(to, id, body) {
      socket.emit('send', { id, to, body }, () => client.onAck(id));
    },
    onAck: NOOP,
    onMessage: NOOP,
    onClose: NOOP,
    close: () => socket.disconnect(),
    get bufferedBytes() {
      return 0;
    },
  };
  socket.on('message', (message: { from: string; body: string }) =>
    client.onMessage(message.from, message.body),
  );
  socket.on('disconnect', () => client.onClose(1006));
  return client;
}

interface CentrifugoReply {
  id?: number;
  error?: { code: number; message: string };
  push?: { channel: string; pub?: { data: { from: string; id: string; body: string } } };
}

/**
 * Centrifugo's bidirectional JSON protocol (v2): `connect` with a JWT, `subscribe` to the
 * user's own channel `chat:<user id>`, and `publish` into the recipient's channel. The
 * publish reply is the acknowledgement; Centrifugo sends it after the Redis engine added the
 * publication to the channel history. Several replies may share one WebSocket message,
 * separated by newlines, and an empty object is a ping that the client replies to in kind.
 */
async function openCentrifugoClient(
  endpoint: Endpoint,
  localAddress: string | undefined,
): Promise<ChatClient> {
  const ws: RawWebSocket = await openRawWebSocket({
    url: endpoint.url,
    ...(localAddress ? { localAddress } : {}),
  });
  const pending = new Map<number, (reply: CentrifugoReply) => void>();
  let nextCommand = 1;
  const command = (body: Record<string, unknown>, onReply: (reply: CentrifugoReply) => void) => {
    const id = nextCommand++;
    pending.set(id, onReply);
    ws.sendText(JSON.stringify({ id, ...body }));
  };
  const client: ChatClient = {
    send(to, id, body) {
      command({ publish: { channel: `chat:${to}`, data: { from: endpoint.userId, id, body } } }, (reply) => {
        if (reply.error === undefined) client.onAck(id);
      });
    },
    onAck: NOOP,
    onMessage: NOOP,
    onClose: NOOP,
    close: () => ws.close(),
    get bufferedBytes() {
      return ws.bufferedBytes;
    },
  };
  ws.onText = (text) => {
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      const reply = JSON.parse(line) as CentrifugoReply;
      if (reply.id !== undefined) {
        const onReply = pending.get(reply.id);
        pending.delete(reply.id);
        onReply?.(reply);
      } else if (reply.push?.pub !== undefined) {
        client.onMessage(reply.push.pub.data.from, reply.push.pub.data.body);
      } else if (reply.push === undefined) {
        ws.sendText('{}');
      }
    }
  };
  ws.onClose = (code) => client.onClose(code);
  const expectOk = (what: string) =>
    new Promise<void>((resolve, reject) => {
      const onReply = (reply: CentrifugoReply) =>
        reply.error === undefined
          ? resolve()
          : reject(new Error(`centrifugo ${what} failed: ${reply.error.code} ${reply.error.message}`));
      if (what === 'connect') command({ connect: { token: endpoint.token, name: 'swb-harness' } }, onReply);
      else command({ subscribe: { channel: `chat:${endpoint.userId}` } }, onReply);
    });
  await expectOk('connect');
  await expectOk('subscribe');
  return client;
}
