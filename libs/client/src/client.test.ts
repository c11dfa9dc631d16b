import type { MessageFrame, ReceiptFrame } from '@switchboard/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwitchboardClient } from './client.ts';
import type { SwitchboardClientOptions } from './client-options.ts';
import { ConnectionStoppedError, SendRejectedError } from './errors.ts';
import {
  SCRIPTED_LIMITS,
  ScriptedCluster,
  waitFor,
  within,
  type ScriptedSocket,
} from './scripted-cluster.ts';
import { MemoryStateStore } from './state-store.ts';

const CONV = 'd.u_alice.u_bob';

let cluster: ScriptedCluster;
let clients: SwitchboardClient[] = [];

beforeEach(async () => {
  cluster = await ScriptedCluster.start(['node-a', 'node-b']);
});

afterEach(async () => {
  for (const client of clients) await client.close();
  clients = [];
  await cluster.close();
});

function createClient(options: Partial<SwitchboardClientOptions> = {}): SwitchboardClient {
  const client = new SwitchboardClient({
    apiUrl: cluster.apiUrl,
    reconnect: { baseMs: 20, maxMs: 100 },
    gapDelayMs: 30,
    receiptDelayMs: 20,
    stateSaveDelayMs: 10,
    drainDelayMaxMs: 20,
    ...options,
  });
  clients.push(client);
  return client;
}

async function loggedInClient(options: Partial<SwitchboardClientOptions> = {}): Promise<SwitchboardClient> {
  const client = createClient(options);
  await client.login('alice', 'secret123');
  return client;
}

function collect<T>(client: SwitchboardClient, event: 'message' | 'receipt'): T[] {
  const items: T[] = [];
  client.on(event, (payload) => items.push(payload as T));
  return items;
}

function fromBob(seq: number, pos?: number): MessageFrame {
  return {
    type: 'message',
    conv: CONV,
    seq,
    from: 'u_bob',
    id: `bob-${seq}`,
    body: `hello ${seq}`,
    ts: 1000 + seq,
    ...(pos === undefined ? {} : { pos }),
  };
}

function savedState(streamPos: number, lastSeq: number): MemoryStateStore {
  return new MemoryStateStore({
    user: 'u_alice',
    streamPos,
    lastSeq: { [CONV]: lastSeq },
    outbox: [],
    heldBack: [],
  });
}

function socketAt(index: number, node = 'node-a'): ScriptedSocket {
  const socket = cluster.node(node).sockets[index];
  if (socket === undefined) throw new Error(`${node} has no socket ${index}`);
  return socket;
}

describe('SwitchboardClient', () => {
  it('connects through the router', async () => {
    const client = await loggedInClient();
    const connected: string[] = [];
    client.on('connected', (welcome) => connected.push(welcome.node));

    const welcome = await within(client.connect(), 'connect');

    expect(welcome.node).toBe('node-a');
    expect(connected).toEqual(['node-a']);
    expect(client.status).toBe('ready');
    expect(cluster.routeRequests).toEqual([`Bearer ${client.session?.accessToken}`]);
    expect(socketAt(0).token).toBe(client.session?.accessToken);
    expect(client.streamPosition).toBe(0);
  });

  it('resolves send with the ack', async () => {
    const client = await loggedInClient();
    const messages = collect<MessageFrame>(client, 'message');
    await within(client.connect(), 'connect');

    const ack = await within(client.send({ to: 'u_bob' }, 'lunch?'), 'ack');

    const sent = cluster.node('node-a').framesOf('send');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ to: 'u_bob', body: 'lunch?' });
    expect(ack).toMatchObject({ type: 'ack', id: sent[0]!.id, conv: CONV, seq: 1 });
    expect(client.pendingSendCount).toBe(0);
    await waitFor(() => messages.length === 1, 'own message');
    expect(messages[0]).toMatchObject({ conv: CONV, seq: 1, from: 'u_alice', body: 'lunch?' });
    await within(client.send({ conv: CONV }, 'or at one?'), 'second ack');
    await waitFor(() => messages.length === 2, 'second own message');
    expect(messages.map((m) => m.seq)).toEqual([1, 2]);
  });

  it('follows a redirect frame', async () => {
    const client = await loggedInClient();
    const nodeB = cluster.node('node-b');
    cluster.node('node-a').onConnection = (socket) => {
      socket.send({ type: 'redirect', node: 'node-b', url: nodeB.url, ringVersion: 'r2' });
      socket.socket.close(4002, 'wrong node');
    };

    const welcome = await within(client.connect(), 'connect');

    expect(welcome.node).toBe('node-b');
    expect(cluster.routeRequests).toHaveLength(1);
    expect(nodeB.sockets).toHaveLength(1);
  });

  it('re-routes at once after close 4002', async () => {
    const client = await loggedInClient({ reconnect: { baseMs: 5000, maxMs: 10_000 } });
    cluster.node('node-a').onConnection = (socket) => {
      cluster.routeTo = cluster.node('node-b');
      socket.socket.close(4002, 'wrong node');
    };
    const disconnects: number[] = [];
    client.on('disconnected', (event) => disconnects.push(event.code));

    const welcome = await within(client.connect(), 'connect');

    expect(welcome.node).toBe('node-b');
    expect(cluster.routeRequests).toHaveLength(2);
    expect(disconnects).toEqual([4002]);
  });

  it('resends same id after a drop', async () => {
    const client = await loggedInClient();
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'send' && nodeA.sockets.length === 1) {
        socket.socket.terminate();
        return;
      }
      nodeA.answerFrame(socket, frame);
    };
    await within(client.connect(), 'connect');

    const ack = await within(client.send({ to: 'u_bob' }, 'are you there?', { id: 'msg-1' }), 'ack');

    const sends = nodeA.framesOf('send');
    expect(sends.map((s) => s.id)).toEqual(['msg-1', 'msg-1']);
    expect(nodeA.sockets).toHaveLength(2);
    expect(ack.id).toBe('msg-1');
    expect(cluster.messages.get(CONV)).toHaveLength(1);
  });

  it('resends same id after a timeout', async () => {
    const client = await loggedInClient({ sendTimeoutMs: 150 });
    const nodeA = cluster.node('node-a');
    let ignored = 0;
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'send' && ignored === 0) {
        ignored += 1;
        return;
      }
      nodeA.answerFrame(socket, frame);
    };
    await within(client.connect(), 'connect');

    const ack = await within(client.send({ to: 'u_bob' }, 'hello?'), 'ack');

    const ids = nodeA.framesOf('send').map((s) => s.id);
    expect(ids).toHaveLength(2);
    expect(ids[1]).toBe(ids[0]);
    expect(ack.id).toBe(ids[0]);
    expect(nodeA.sockets).toHaveLength(1);
  });

  it('paces sends below the frame rate', async () => {
    const client = await loggedInClient();
    const nodeA = cluster.node('node-a');
    nodeA.onConnection = (socket) => socket.welcome(0, { ...SCRIPTED_LIMITS, framesPerSecond: 10 });
    const arrivals: number[] = [];
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'send') arrivals.push(Date.now());
      nodeA.answerFrame(socket, frame);
    };
    await within(client.connect(), 'connect');

    const ids = Array.from({ length: 12 }, (_, i) => `paced-${i}`);
    const acks = await within(
      Promise.all(ids.map((id) => client.send({ to: 'u_bob' }, id, { id }))),
      'acks of 12 messages',
    );

    // 80% of 10 frames per second: a burst of 8, then one every 125 ms.
    expect(acks.map((ack) => ack.id)).toEqual(ids);
    expect(nodeA.framesOf('send').map((f) => f.id)).toEqual(ids);
    const first = arrivals[0]!;
    expect(arrivals.filter((t) => t - first < 100)).toHaveLength(8);
    expect(arrivals.at(-1)! - first).toBeGreaterThanOrEqual(400);
  });

  it('rejects send on a final error', async () => {
    const client = await loggedInClient();
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'send') {
        socket.send({
          type: 'error',
          code: 'SWB_ERR_USER_NOT_FOUND',
          message: 'no such user',
          retryable: false,
          ref: frame.id,
        });
        return;
      }
      nodeA.answerFrame(socket, frame);
    };
    await within(client.connect(), 'connect');

    const result = client.send({ to: 'u_nobody' }, 'hi');

    await expect(within(result, 'rejection')).rejects.toBeInstanceOf(SendRejectedError);
    await expect(result).rejects.toMatchObject({ code: 'SWB_ERR_USER_NOT_FOUND' });
    expect(client.pendingSendCount).toBe(0);
  });

  it('sends a message rejected as retryable again after a short backoff', async () => {
    const client = await loggedInClient();
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'send' && nodeA.framesOf('send').length === 1) {
        socket.send({
          type: 'error',
          code: 'SWB_ERR_UNAVAILABLE',
          message: 'the log is unavailable; retry with the same id',
          retryable: true,
          ref: frame.id,
        });
        return;
      }
      nodeA.answerFrame(socket, frame);
    };
    await within(client.connect(), 'connect');

    const started = Date.now();
    const ack = await within(client.send({ to: 'u_bob' }, 'hi'), 'the ack after the retry');

    expect(Date.now() - started).toBeLessThan(2000);
    const sends = nodeA.framesOf('send');
    expect(sends).toHaveLength(2);
    expect(sends[1]!.id).toBe(sends[0]!.id);
    expect(ack.id).toBe(sends[0]!.id);
  });

  it('syncs saved position before resolving', async () => {
    const store = savedState(5, 3);
    const client = await loggedInClient({ state: store });
    const messages = collect<MessageFrame>(client, 'message');
    const receipts = collect<ReceiptFrame>(client, 'receipt');
    cluster.setStreamHead('u_alice', 9);
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type !== 'sync') return nodeA.answerFrame(socket, frame);
      if (frame.after === 5) {
        const receipt: ReceiptFrame = {
          type: 'receipt',
          conv: CONV,
          user: 'u_bob',
          kind: 'read',
          seq: 2,
          ts: 1,
          pos: 7,
        };
        socket.send({ type: 'sync', entries: [fromBob(4, 6), receipt], head: 7, more: true });
      } else {
        socket.send({ type: 'sync', entries: [fromBob(5, 8), fromBob(4, 9)], head: 9, more: false });
      }
    };

    await within(client.connect(), 'connect');

    expect(nodeA.framesOf('sync').map((f) => f.after)).toEqual([5, 7]);
    expect(messages.map((m) => m.seq)).toEqual([4, 5]);
    expect(receipts.map((r) => r.seq)).toEqual([2]);
    expect(client.streamPosition).toBe(9);
    const saved = await waitFor(() => {
      const state = store.load();
      return state?.streamPos === 9 ? state : null;
    }, 'saved stream position');
    expect(saved.lastSeq[CONV]).toBe(5);
  });

  it('syncs again after a reconnect', async () => {
    const client = await loggedInClient({ state: savedState(5, 3) });
    const messages = collect<MessageFrame>(client, 'message');
    cluster.setStreamHead('u_alice', 5);
    await within(client.connect(), 'connect');
    expect(cluster.node('node-a').framesOf('sync')).toHaveLength(0);

    // While the client is away, one message lands at stream position 6.
    cluster.setStreamHead('u_alice', 6);
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type !== 'sync') return nodeA.answerFrame(socket, frame);
      socket.send({ type: 'sync', entries: [fromBob(4, 6)], head: 6, more: false });
    };
    socketAt(0).socket.terminate();

    await waitFor(() => messages.length === 1, 'message from the catch-up sync');
    expect(nodeA.framesOf('sync').map((f) => f.after)).toEqual([5]);
    expect(messages[0]).toMatchObject({ seq: 4, body: 'hello 4' });
    expect(client.streamPosition).toBe(6);
  });

  it('syncs at once on a resync frame', async () => {
    const client = await loggedInClient({ state: savedState(5, 3) });
    cluster.setStreamHead('u_alice', 5);
    await within(client.connect(), 'connect');

    socketAt(0).send({ type: 'resync', reason: 'behind' });

    await waitFor(() => cluster.node('node-a').framesOf('sync').length === 1, 'sync after resync');
    expect(cluster.node('node-a').framesOf('sync')[0]).toMatchObject({ after: 5 });
  });

  it('syncs when a pong shows a head above its position', async () => {
    const client = await loggedInClient({ state: savedState(5, 3), pingIntervalMs: 60 });
    cluster.setStreamHead('u_alice', 5);
    await within(client.connect(), 'connect');
    const nodeA = cluster.node('node-a');
    await waitFor(() => nodeA.framesOf('ping').length >= 2, 'two pings');
    expect(nodeA.framesOf('sync')).toHaveLength(0);

    // A delivery at position 6 went astray, and only the pong head shows it.
    cluster.setStreamHead('u_alice', 6);

    await waitFor(() => nodeA.framesOf('sync').length === 1, 'sync after the pong');
    expect(nodeA.framesOf('sync')[0]).toMatchObject({ after: 5 });
  });

  it('follows each pong head once when sync cannot reach it', async () => {
    const client = await loggedInClient({ state: savedState(5, 3), pingIntervalMs: 60 });
    cluster.setStreamHead('u_alice', 5);
    const nodeA = cluster.node('node-a');
    // Positions 6 and 7 have no entries, as for a user who blocked the sender.
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'sync') return socket.send({ type: 'sync', entries: [], head: 5, more: false });
      nodeA.answerFrame(socket, frame);
    };
    await within(client.connect(), 'connect');
    cluster.setStreamHead('u_alice', 6);

    await waitFor(() => nodeA.framesOf('sync').length === 1, 'the sync for head 6');
    const pings = nodeA.framesOf('ping').length;
    await waitFor(() => nodeA.framesOf('ping').length >= pings + 4, 'four more pings');
    expect(nodeA.framesOf('sync')).toHaveLength(1);

    cluster.setStreamHead('u_alice', 7);
    await waitFor(() => nodeA.framesOf('sync').length === 2, 'the sync for head 7');
  });

  it('syncs when a stream position is skipped', async () => {
    const client = await loggedInClient({ state: savedState(5, 3) });
    const messages = collect<MessageFrame>(client, 'message');
    cluster.setStreamHead('u_alice', 5);
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type !== 'sync') return nodeA.answerFrame(socket, frame);
      socket.send({ type: 'sync', entries: [fromBob(4, 6), fromBob(5, 7)], head: 7, more: false });
    };
    await within(client.connect(), 'connect');

    socketAt(0).send(fromBob(5, 7));

    await waitFor(() => messages.length === 2, 'messages 4 and 5');
    expect(messages.map((m) => m.seq)).toEqual([4, 5]);
    expect(nodeA.framesOf('sync').map((f) => f.after)).toEqual([5]);
    expect(client.streamPosition).toBe(7);
  });

  it('fetches a sequence gap and skips missing numbers', async () => {
    const client = await loggedInClient({ state: savedState(0, 3) });
    const messages = collect<MessageFrame>(client, 'message');
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type !== 'fetch') return nodeA.answerFrame(socket, frame);
      socket.send({ type: 'fetched', conv: frame.conv, messages: [fromBob(5)], missing: [6] });
    };
    await within(client.connect(), 'connect');

    socketAt(0).send(fromBob(4));
    socketAt(0).send(fromBob(7));

    await waitFor(() => messages.length === 3, 'messages 4, 5 and 7');
    expect(messages.map((m) => m.seq)).toEqual([4, 5, 7]);
    expect(nodeA.framesOf('fetch')).toMatchObject([{ type: 'fetch', conv: CONV, from: 5, to: 6 }]);
    expect(client.lastSeq(CONV)).toBe(7);
  });

  it('holds a gap fetch until the sync in flight is answered', async () => {
    const client = await loggedInClient({ state: savedState(0, 3) });
    const messages = collect<MessageFrame>(client, 'message');
    const nodeA = cluster.node('node-a');
    const heldSyncs: Array<() => void> = [];
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'sync') {
        heldSyncs.push(() => nodeA.answerFrame(socket, frame));
        return;
      }
      if (frame.type !== 'fetch') return nodeA.answerFrame(socket, frame);
      socket.send({ type: 'fetched', conv: frame.conv, messages: [fromBob(5)], missing: [] });
    };
    await within(client.connect(), 'connect');

    socketAt(0).send({ type: 'resync', reason: 'ring' });
    await waitFor(() => heldSyncs.length === 1, 'the sync after the resync');
    socketAt(0).send(fromBob(4));
    socketAt(0).send(fromBob(6));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(nodeA.framesOf('fetch')).toEqual([]);

    heldSyncs[0]!();
    await waitFor(() => messages.length === 3, 'messages 4, 5 and 6');
    expect(nodeA.framesOf('fetch')).toMatchObject([{ conv: CONV, from: 5, to: 5 }]);
  });

  it('sends a sync refused by the node again within a second', async () => {
    const client = await loggedInClient({ state: savedState(5, 3) });
    cluster.setStreamHead('u_alice', 6);
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'sync' && nodeA.framesOf('sync').length === 1) {
        socket.send({
          type: 'error',
          code: 'SWB_ERR_RATE_LIMITED',
          message: 'busy',
          retryable: true,
          ref: frame.id!,
        });
        return;
      }
      nodeA.answerFrame(socket, frame);
    };
    const started = Date.now();
    await within(client.connect(), 'connect');

    await waitFor(() => nodeA.framesOf('sync').length === 2, 'the second sync');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(nodeA.framesOf('sync')[0]!.id).toMatch(/^s/);
    expect(nodeA.framesOf('sync')[1]).toMatchObject({ after: 5 });
  });

  it('orders a new conversation that arrives out of order', async () => {
    const client = await loggedInClient();
    const messages = collect<MessageFrame>(client, 'message');
    cluster.setStreamHead('u_alice', 5);
    await within(client.connect(), 'connect');

    socketAt(0).send(fromBob(8, 8));
    socketAt(0).send(fromBob(6, 6));
    socketAt(0).send(fromBob(7, 7));

    await waitFor(() => messages.length === 3, 'messages 6, 7 and 8');
    expect(messages.map((m) => m.seq)).toEqual([6, 7, 8]);
    expect(client.streamPosition).toBe(8);
  });

  it('drops a message it has already emitted', async () => {
    const client = await loggedInClient({ state: savedState(0, 3) });
    const messages = collect<MessageFrame>(client, 'message');
    await within(client.connect(), 'connect');

    socketAt(0).send(fromBob(4));
    socketAt(0).send(fromBob(4));
    socketAt(0).send(fromBob(3));
    socketAt(0).send(fromBob(5));

    await waitFor(() => messages.length === 2, 'messages 4 and 5');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(messages.map((m) => m.seq)).toEqual([4, 5]);
  });

  it('sends one delivered receipt per burst', async () => {
    const client = await loggedInClient({ state: savedState(0, 3) });
    collect<MessageFrame>(client, 'message');
    await within(client.connect(), 'connect');

    for (const seq of [4, 5, 6]) socketAt(0).send(fromBob(seq));

    const receipts = await waitFor(() => {
      const sent = cluster.node('node-a').framesOf('receipt');
      return sent.length > 0 ? sent : null;
    }, 'delivered receipt');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(cluster.node('node-a').framesOf('receipt')).toHaveLength(1);
    expect(receipts[0]).toEqual({ type: 'receipt', conv: CONV, kind: 'delivered', seq: 6 });
  });

  it('sends read receipts from markRead', async () => {
    const client = await loggedInClient({ autoDelivered: false });
    await within(client.connect(), 'connect');

    client.markRead(CONV, 3);
    client.markRead(CONV, 2);

    await waitFor(() => cluster.node('node-a').framesOf('receipt').length === 1, 'read receipt');
    expect(cluster.node('node-a').framesOf('receipt')[0]).toEqual({
      type: 'receipt',
      conv: CONV,
      kind: 'read',
      seq: 3,
    });
  });

  it('stops reconnecting after close 4006', async () => {
    const client = await loggedInClient();
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type === 'send') socket.socket.close(4006, 'too many invalid frames');
    };
    const disconnects: Array<{ code: number; willReconnect: boolean }> = [];
    client.on('disconnected', ({ code, willReconnect }) => disconnects.push({ code, willReconnect }));
    await within(client.connect(), 'connect');

    const result = client.send({ to: 'u_bob' }, 'hi');

    await expect(within(result, 'rejection')).rejects.toBeInstanceOf(ConnectionStoppedError);
    expect(disconnects).toEqual([{ code: 4006, willReconnect: false }]);
    expect(client.status).toBe('stopped');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(nodeA.sockets).toHaveLength(1);
    expect(cluster.routeRequests).toHaveLength(1);
  });

  it('refreshes the token on close 4001', async () => {
    const client = await loggedInClient();
    await within(client.connect(), 'connect');
    const firstToken = client.session?.accessToken;

    socketAt(0).socket.close(4001, 'token expired');

    await waitFor(() => cluster.node('node-a').sockets.length === 2, 'second connection');
    expect(cluster.refreshCount).toBe(1);
    expect(socketAt(1).token).toBe(client.session?.accessToken);
    expect(socketAt(1).token).not.toBe(firstToken);
  });

  it('reconnects when the socket goes silent', async () => {
    const client = await loggedInClient({ pingIntervalMs: 60 });
    const nodeA = cluster.node('node-a');
    nodeA.onFrame = (socket, frame) => {
      if (frame.type !== 'ping') nodeA.answerFrame(socket, frame);
    };
    const disconnects: number[] = [];
    client.on('disconnected', (event) => disconnects.push(event.code));
    await within(client.connect(), 'connect');

    await waitFor(() => nodeA.sockets.length === 2, 'reconnect after silence');
    expect(nodeA.framesOf('ping').length).toBeGreaterThan(0);
    expect(disconnects[0]).toBe(1006);
  });

  it('reconnects after the node drains', async () => {
    const client = await loggedInClient();
    const states: string[] = [];
    client.on('state', (state) => states.push(state));
    await within(client.connect(), 'connect');

    socketAt(0).socket.close(4003, 'draining');

    await waitFor(() => cluster.node('node-a').sockets.length === 2, 'second connection');
    await waitFor(() => client.status === 'ready', 'ready again');
    expect(states).toEqual(['connecting', 'syncing', 'ready', 'waiting', 'connecting', 'syncing', 'ready']);
  });

  it('resends the saved outbox of an earlier run', async () => {
    const store = new MemoryStateStore({
      user: 'u_alice',
      streamPos: 0,
      lastSeq: {},
      outbox: [{ id: 'saved-1', target: { to: 'u_bob' }, body: 'from before', createdAt: 1 }],
      heldBack: [],
    });
    const client = await loggedInClient({ state: store });
    const acks: string[] = [];
    client.on('ack', (ack) => acks.push(ack.id));

    await within(client.connect(), 'connect');

    await waitFor(() => acks.length === 1, 'ack of the saved message');
    expect(acks).toEqual(['saved-1']);
    expect(cluster.node('node-a').framesOf('send')).toMatchObject([{ id: 'saved-1', body: 'from before' }]);
    await waitFor(() => store.load()?.outbox.length === 0, 'outbox saved empty');
  });

  it('refreshes once on HTTP 401', async () => {
    const client = await loggedInClient();
    const sessions: string[] = [];
    client.on('session', (session) => sessions.push(session.accessToken));
    cluster.revokeAccessToken(client.session!.accessToken);

    const users = await within(client.searchUsers('bo'), 'user search');

    expect(users).toEqual([{ id: 'u_bob', username: 'bob', displayName: 'Bob' }]);
    expect(cluster.refreshCount).toBe(1);
    expect(sessions).toHaveLength(1);
  });
});
