/**
 * Socket.IO peer: one Socket.IO 4 server process with @socket.io/redis-adapter, so that two
 * or more processes deliver to each other's clients through Redis pub/sub, as Switchboard's
 * chat nodes do through the bus.
 *
 * A client connects with `auth: { user }` and joins the room named after its user id. An
 * event `send` `{ id, to, body }` is emitted as `message` to the rooms of the recipient and
 * of the sender (Switchboard also delivers to the sender's own devices), and then the
 * Socket.IO acknowledgement is called. The acknowledgement means "handed to the adapter":
 * nothing is stored, so unlike Switchboard's ack it promises no durability.
 *
 * Usage: node --import tsx loadtests/peers/socketio/socketio-server.ts
 * Variables: SWB_SOCKETIO_PORT (default 0, a free port), SWB_REDIS_URL (default
 * redis://127.0.0.1:6390), SWB_SOCKETIO_KEY (Redis channel prefix, default swb-bench-sio).
 * Prints `{"msg":"socketio listening","port":N}` when ready; stops on SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const redisUrl = process.env.SWB_REDIS_URL ?? 'redis://127.0.0.1:6390';
const key = process.env.SWB_SOCKETIO_KEY ?? 'swb-bench-sio';
const port = Number(process.env.SWB_SOCKETIO_PORT ?? 0);

const pubClient = new Redis(redisUrl, { lazyConnect: true });
const subClient = pubClient.duplicate();
await Promise.all([pubClient.connect(), subClient.connect()]);

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  adapter: createAdapter(pubClient, subClient, { key }),
  // Same idle handling as the chat node: a ping every 25 s, a peer silent for 60 s is dropped.
  pingInterval: 25_000,
  pingTimeout: 35_000,
});

io.use((socket, next) => {
  const user: unknown = socket.handshake.auth.user;
  if (typeof user !== 'string' || user.length === 0) next(new Error('auth.user is missing'));
  else next();
});

io.on('connection', (socket) => {
  const user = socket.handshake.auth.user as string;
  void socket.join(user);
  socket.on('send', (frame: { id: string; to: string; body: string }, ack?: () => void) => {
    io.to([frame.to, user]).emit('message', { from: user, id: frame.id, body: frame.body, ts: Date.now() });
    ack?.();
  });
});

http.listen(port, '127.0.0.1', () => {
  const { port: bound } = http.address() as AddressInfo;
  process.stdout.write(JSON.stringify({ msg: 'socketio listening', port: bound }) + '\n');
});

process.on('SIGTERM', () => {
  void io.close();
  pubClient.disconnect();
  subClient.disconnect();
  process.exit(0);
});
