import { connect as connectTcp, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageFrame } from '@switchboard/protocol';
import { RawSocket } from './testing/raw-socket.ts';
import {
  registerUser,
  routeFor,
  startTestCluster,
  type TestCluster,
  type TestUser,
} from './testing/cluster.ts';

const SEND_BUFFER_BYTES = 16 * 1024;
const MESSAGES = 3000;
const BODY = 'x'.repeat(3000);

let cluster: TestCluster;
let alice: TestUser;
let bob: TestUser;

async function connect(user: TestUser): Promise<RawSocket> {
  const route = await routeFor(cluster.routerUrl, user.accessToken);
  const result = await RawSocket.open(route.url, user.accessToken);
  if (!result.ok) throw new Error(`upgrade failed with ${result.status}: ${result.body}`);
  // The welcome waits for the user's stream head, which a new user's first connection seeds from
  // the store. In one cluster pass on a loaded machine that took over 5 s.
  await result.socket.next('welcome', () => true, 30_000);
  return result.socket;
}

beforeAll(async () => {
  cluster = await startTestCluster({
    policy: {
      sendBufferBytes: SEND_BUFFER_BYTES,
      framesPerSecond: 100_000,
      // Long enough for 3,000 sends of one user to finish while the paused reader replies to no
      // pings, because each send takes its number only after the user's previous one.
      idleTimeoutSeconds: 30,
      maxBodyBytes: 4000,
    },
  });
  alice = await registerUser(cluster.apiUrl, 'alice');
  bob = await registerUser(cluster.apiUrl, 'bob');
});

afterAll(async () => {
  await cluster?.destroy();
});

describe('slow consumer', () => {
  it('drops live deliveries past the send buffer and resyncs the client', async () => {
    const sender = await connect(alice);
    const reader = await connect(bob);
    const tcp = (reader.ws as unknown as { _socket: Socket })._socket;
    tcp.pause();

    for (let i = 0; i < MESSAGES; i++) {
      sender.sendJson({ type: 'send', id: `slow-${i}`, to: bob.id, body: BODY });
    }
    for (let i = 0; i < MESSAGES; i++) await sender.next('ack', undefined, 60_000);
    sender.close();

    tcp.resume();
    const resync = await reader.next('resync', undefined, 30_000);
    expect(resync.reason).toBe('behind');

    const live = reader.frames.filter((frame): frame is MessageFrame => frame.type === 'message');
    expect(live.length).toBeLessThan(MESSAGES);

    const seen = new Set(live.map((frame) => frame.seq));
    let after = 0;
    for (;;) {
      reader.sendJson({ type: 'sync', after, limit: 500 });
      const page = await reader.next('sync', undefined, 10_000);
      for (const entry of page.entries) if (entry.type === 'message') seen.add(entry.seq);
      after = page.head;
      if (!page.more) break;
    }
    expect(seen.size).toBe(MESSAGES);
    expect(Math.min(...seen)).toBe(1);
    expect(Math.max(...seen)).toBe(MESSAGES);
    reader.close();
  }, 120_000);
});

describe('idle connection', () => {
  it('is closed by the node when it answers no pings', async () => {
    const route = await routeFor(cluster.routerUrl, alice.accessToken);
    const url = new URL(route.url);
    const socket = connectTcp(Number(url.port), url.hostname);
    const key = randomBytes(16).toString('base64');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      `GET ${url.pathname}?access_token=${alice.accessToken} HTTP/1.1\r\n` +
        `Host: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));

    const started = Date.now();
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 70_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    expect(received.startsWith('HTTP/1.1 101')).toBe(true);
    expect(closed).toBe(true);
    // uWebSockets.js pings halfway through the idle timeout and checks timeouts every 4 s,
    // so a silent peer goes between about half and all of idleTimeoutSeconds (30 s here).
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
  }, 90_000);
});
