import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { openRawWebSocket, UpgradeRejectedError, type RawWebSocket } from './raw-websocket.ts';

const servers: Server[] = [];
const clients: RawWebSocket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** Starts a ws server on a free loopback port; `onConnection` drives each accepted socket. */
async function startServer(onConnection: (socket: WebSocket) => void): Promise<string> {
  const http = createServer((_req, res) => res.writeHead(401).end('no token'));
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    if (!req.url?.includes('token=ok')) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 8\r\n\r\nno token');
      return;
    }
    wss.handleUpgrade(req, socket, head, onConnection);
  });
  servers.push(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws?token=ok`;
}

function nextText(client: RawWebSocket, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no text message within ${timeoutMs} ms`)), timeoutMs);
    client.onText = (text) => {
      clearTimeout(timer);
      resolve(text);
    };
  });
}

describe('openRawWebSocket', () => {
  it('keeps a message sent with the upgrade response', async () => {
    const url = await startServer((socket) => socket.send('{"type":"welcome"}'));
    const client = await openRawWebSocket({ url });
    clients.push(client);
    // The handler is set only after the upgrade resolved, as the load worker does.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await nextText(client)).toBe('{"type":"welcome"}');
  });

  it('round-trips masked text frames of every length class', async () => {
    const url = await startServer((socket) => socket.on('message', (data) => socket.send(data.toString())));
    const client = await openRawWebSocket({ url, localAddress: '127.0.0.2' });
    clients.push(client);
    for (const length of [5, 125, 126, 70_000]) {
      const text = 'a'.repeat(length);
      const echoed = nextText(client);
      client.sendText(text);
      expect((await echoed).length).toBe(length);
    }
  });

  it('answers a ping with a pong carrying its payload', async () => {
    let pong: Promise<string> = Promise.resolve('');
    const url = await startServer((socket) => {
      pong = new Promise((resolve) => socket.once('pong', (data) => resolve(data.toString())));
      socket.ping('beat');
    });
    clients.push(await openRawWebSocket({ url }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await pong).toBe('beat');
  });

  it('reports the close code the server sent', async () => {
    const url = await startServer((socket) => socket.close(4002, 'wrong node'));
    const client = await openRawWebSocket({ url });
    clients.push(client);
    const code = await new Promise<number>((resolve) => (client.onClose = resolve));
    expect(code).toBe(4002);
    expect(client.open).toBe(false);
  });

  it('rejects an upgrade answered with 401', async () => {
    const url = await startServer(() => {});
    const rejected = openRawWebSocket({ url: url.replace('token=ok', 'token=bad') });
    await expect(rejected).rejects.toBeInstanceOf(UpgradeRejectedError);
    await expect(rejected).rejects.toMatchObject({ status: 401 });
  });
});
