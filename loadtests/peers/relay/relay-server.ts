/**
 * Bare relay: a uWebSockets.js server with no routing, no authentication and no storage, the
 * floor that Switchboard's chat node is compared against. It speaks the same JSON frames as
 * the chat node for the parts the harness uses. It sends `welcome` on open. For each `send`
 * it sends a `message` to every connection of the recipient and of the sender, then an `ack`
 * to the sender. It parses and serialises each frame once, as the chat node does, and keeps one
 * map from user id to open sockets.
 *
 * Usage: node --import tsx loadtests/peers/relay/relay-server.ts
 * Variables: SWB_RELAY_HOST (default 127.0.0.1), SWB_RELAY_PORT (default 0, a free port).
 * Prints one JSON line `{"msg":"relay listening","port":N}` when ready; stops on SIGTERM.
 */
import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

const require = createRequire(import.meta.url);
// The package's entry point falls back to a slow pure-JS server when the binary does not
// load. Requiring the binary directly makes that a start-up error, as in the chat node.
const uws = require(
  `uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
) as typeof Uws;

interface Connection {
  user: string;
}

type Socket = Uws.WebSocket<Connection>;

const host = process.env.SWB_RELAY_HOST ?? '127.0.0.1';
const port = Number(process.env.SWB_RELAY_PORT ?? 0);
const sockets = new Map<string, Set<Socket>>();
let seq = 0;

const app = uws.App();
app.ws<Connection>('/ws', {
  // The same transport settings as the chat node's defaults, so the comparison is of the work
  // done per frame and per connection, not of buffer sizes.
  maxPayloadLength: 64 * 1024,
  idleTimeout: 60,
  maxBackpressure: 512 * 1024,
  sendPingsAutomatically: true,
  upgrade: (res, req, context) => {
    const user = req.getQuery('user') ?? '';
    if (user.length === 0) {
      res.writeStatus('401 Unauthorized').end('user query parameter is missing');
      return;
    }
    res.upgrade<Connection>(
      { user },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws: Socket) => {
    const { user } = ws.getUserData();
    let set = sockets.get(user);
    if (set === undefined) {
      set = new Set();
      sockets.set(user, set);
    }
    set.add(ws);
    ws.send('{"type":"welcome"}', false);
  },
  message: (ws: Socket, data: ArrayBuffer) => {
    const frame = JSON.parse(Buffer.from(data).toString('utf8')) as {
      type: string;
      id: string;
      to: string;
      body: string;
    };
    if (frame.type !== 'send') return;
    const from = ws.getUserData().user;
    const ts = Date.now();
    seq++;
    const message = JSON.stringify({
      type: 'message',
      conv: '',
      seq,
      from,
      id: frame.id,
      body: frame.body,
      ts,
    });
    ws.send(JSON.stringify({ type: 'ack', id: frame.id, conv: '', seq, ts }), false);
    for (const target of sockets.get(frame.to) ?? []) target.send(message, false);
    for (const target of sockets.get(from) ?? []) target.send(message, false);
  },
  close: (ws: Socket) => {
    const { user } = ws.getUserData();
    const set = sockets.get(user);
    set?.delete(ws);
    if (set?.size === 0) sockets.delete(user);
  },
});

app.listen(host, port, (listenSocket) => {
  if (!listenSocket) {
    process.stderr.write(`relay failed to listen on ${host}:${port}\n`);
    process.exit(1);
  }
  process.stdout.write(
    JSON.stringify({ msg: 'relay listening', port: uws.us_socket_local_port(listenSocket) }) + '\n',
  );
  process.on('SIGTERM', () => {
    uws.us_listen_socket_close(listenSocket);
    process.exit(0);
  });
});
