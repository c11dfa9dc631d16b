import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDirectConversationId, CloseCode } from '@switchboard/protocol';
import { RawSocket } from './testing/raw-socket.ts';
import {
  registerOnDifferentNodes,
  registerUser,
  routeFor,
  startTestCluster,
  waitFor,
  type TestCluster,
  type TestUser,
} from './testing/cluster.ts';
import { connectDevice, type Device } from './testing/sdk.ts';

let cluster: TestCluster;
const devices: Device[] = [];

async function device(user: TestUser, state?: Device['state']): Promise<Device> {
  const created = await connectDevice(cluster, user, state);
  devices.push(created);
  return created;
}

async function history(user: TestUser, conv: string): Promise<Array<{ seq: number; body: string }>> {
  const all: Array<{ seq: number; body: string }> = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? 'limit=100' : `limit=100&cursor=${cursor}`;
    const response = await fetch(`${cluster.apiUrl}/v1/conversations/${conv}/messages?${query}`, {
      headers: { authorization: `Bearer ${user.accessToken}` },
    });
    expect(response.status).toBe(200);
    const page = (await response.json()) as {
      messages: Array<{ seq: number; body: string }>;
      nextCursor: string | null;
    };
    all.push(...page.messages);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return all.sort((a, b) => a.seq - b.seq);
}

function bodies(messages: Array<{ body: string }>): string[] {
  return messages.map((message) => message.body);
}

beforeAll(async () => {
  cluster = await startTestCluster();
});

afterAll(async () => {
  for (const created of devices) await created.client.close();
  await cluster?.destroy();
});

describe('one-to-one across two chat nodes', () => {
  let alice: TestUser;
  let bob: TestUser;
  let conv: string;

  beforeAll(async () => {
    [alice, bob] = await registerOnDifferentNodes(cluster, 'pair');
    conv = buildDirectConversationId(alice.id, bob.id);
  });

  it('places the two users on different nodes', async () => {
    const [a, b] = await Promise.all([
      routeFor(cluster.routerUrl, alice.accessToken),
      routeFor(cluster.routerUrl, bob.accessToken),
    ]);
    expect(a.node).not.toBe(b.node);
    expect(a.ringVersion).toBe(b.ringVersion);
  });

  it('delivers both ways with acknowledgements and receipts', async () => {
    const a = await device(alice);
    const b = await device(bob);

    const ack = await a.client.send({ to: bob.id }, 'hello bob');
    expect(ack.conv).toBe(conv);
    expect(ack.seq).toBe(1);
    const [received] = await b.waitForMessages(conv, 1);
    expect(received).toMatchObject({ seq: 1, from: alice.id, body: 'hello bob' });

    await a.waitForReceipt(bob.id, 'delivered', 1);
    b.client.markRead(conv, 1);
    await a.waitForReceipt(bob.id, 'read', 1);

    const reply = await b.client.send({ conv }, 'hi alice');
    expect(reply.seq).toBe(2);
    const inbox = await a.waitForMessages(conv, 2);
    expect(bodies(inbox)).toEqual(['hello bob', 'hi alice']);
  });

  it('delivers everything missed while offline, in order, once', async () => {
    const a = devices.find((candidate) => candidate.client.userId === alice.id)!;
    const b = devices.find((candidate) => candidate.client.userId === bob.id)!;
    const before = b.messages.filter((message) => message.conv === conv).length;
    await b.client.close();

    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      sent.push(`offline ${i}`);
      await a.client.send({ conv }, `offline ${i}`);
    }

    const restarted = await device(bob, b.state);
    const received = await restarted.waitForMessages(conv, 50);
    expect(bodies(received)).toEqual(sent);
    const seqs = received.map((message) => message.seq);
    expect(new Set(seqs).size).toBe(50);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(before).toBe(2);
  });

  it('shows the same order on every device of a user', async () => {
    const carol = await registerUser(cluster.apiUrl, 'carol');
    const phone = await device(bob);
    const laptop = await device(bob);
    const carolDevice = await device(carol);
    const carolConv = buildDirectConversationId(bob.id, carol.id);
    const a = devices.find((candidate) => candidate.client.userId === alice.id)!;

    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) {
      sends.push(a.client.send({ conv }, `from alice ${i}`));
      sends.push(carolDevice.client.send({ to: bob.id }, `from carol ${i}`));
    }
    sends.push(phone.client.send({ conv }, 'from bob phone'));
    await Promise.all(sends);

    for (const target of [conv, carolConv]) {
      const count = target === conv ? 21 : 20;
      const onPhone = await phone.waitForMessages(target, count);
      const onLaptop = await laptop.waitForMessages(target, count);
      expect(onLaptop.map((message) => message.seq)).toEqual(onPhone.map((message) => message.seq));
      expect(bodies(onLaptop)).toEqual(bodies(onPhone));
    }
    // The sender's other device receives its own message too.
    expect(bodies(await laptop.waitForMessages(conv, 21))).toContain('from bob phone');
  });

  it('keeps history equal to what the devices received', async () => {
    const stored = await history(alice, conv);
    const a = devices.find((candidate) => candidate.client.userId === alice.id)!;
    const live = a.messages.filter((message) => message.conv === conv);
    await waitFor(
      () => a.messages.filter((message) => message.conv === conv).length === stored.length,
      'alice to see every stored message',
    );
    expect(stored.map((message) => message.seq)).toEqual(live.map((message) => message.seq));
    expect(new Set(stored.map((message) => message.seq)).size).toBe(stored.length);
  });
});

describe('idempotent sends', () => {
  it('answers a retried send with the same acknowledgement and stores one message', async () => {
    const [dave, erin] = await registerOnDifferentNodes(cluster, 'retry');
    const route = await routeFor(cluster.routerUrl, dave.accessToken);
    const { socket } = await RawSocket.openWelcomed(route.url, dave.accessToken);

    socket.sendJson({ type: 'send', id: 'same-id', to: erin.id, body: 'only once' });
    const first = await socket.next('ack');
    socket.sendJson({ type: 'send', id: 'same-id', to: erin.id, body: 'only once' });
    const second = await socket.next('ack');
    socket.sendJson({ type: 'send', id: 'other-id', to: erin.id, body: 'second message' });
    const third = await socket.next('ack');

    expect(second).toEqual(first);
    expect(third.seq).toBe(first.seq + 1);
    const stored = await history(dave, first.conv);
    expect(bodies(stored)).toEqual(['only once', 'second message']);
    socket.close();
  });

  it('reuses the id after a reconnect without a second message', async () => {
    const [frank, gina] = await registerOnDifferentNodes(cluster, 'reconnect');
    const route = await routeFor(cluster.routerUrl, frank.accessToken);
    const conv = buildDirectConversationId(frank.id, gina.id);
    for (let attempt = 0; attempt < 2; attempt++) {
      const { socket } = await RawSocket.openWelcomed(route.url, frank.accessToken);
      socket.sendJson({ type: 'send', id: 'after-drop', to: gina.id, body: 'survives a drop' });
      const ack = await socket.next('ack');
      expect(ack.seq).toBe(1);
      socket.close();
    }
    expect(bodies(await history(frank, conv))).toEqual(['survives a drop']);
  });
});

describe('resync cost', () => {
  it('returns only the entries missed, however many conversations the user has', async () => {
    const hub = await registerUser(cluster.apiUrl, 'hub');
    const peers: TestUser[] = [];
    for (let i = 0; i < 12; i++) peers.push(await registerUser(cluster.apiUrl, `spoke${i}`));
    const hubDevice = await device(hub);
    for (const peer of peers) {
      const peerDevice = await device(peer);
      await peerDevice.client.send({ to: hub.id }, `hello from ${peer.username}`);
      await peerDevice.client.close();
    }
    await hubDevice.waitForMessages(buildDirectConversationId(hub.id, peers[11]!.id), 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const position = hubDevice.client.streamPosition!;
    await hubDevice.client.close();

    const late = await device(peers[3]!);
    await late.client.send({ to: hub.id }, 'missed one');
    await late.client.send({ to: hub.id }, 'missed two');
    await late.client.close();

    const route = await routeFor(cluster.routerUrl, hub.accessToken);
    const { socket } = await RawSocket.openWelcomed(route.url, hub.accessToken);
    socket.sendJson({ type: 'sync', after: position });
    const page = await socket.next('sync');
    expect(page.more).toBe(false);
    expect(page.entries.map((entry) => (entry.type === 'message' ? entry.body : entry.type))).toEqual([
      'missed one',
      'missed two',
    ]);
    socket.close();
  });

  it('answers a ping with the stream head, which moves with each entry', async () => {
    const [kim, lee] = await registerOnDifferentNodes(cluster, 'head');
    const route = await routeFor(cluster.routerUrl, lee.accessToken);
    const { socket, welcome } = await RawSocket.openWelcomed(route.url, lee.accessToken);
    socket.sendJson({ type: 'ping', id: 'before' });
    expect(await socket.next('pong')).toMatchObject({ id: 'before', head: welcome.head });

    const kimDevice = await device(kim);
    await kimDevice.client.send({ to: lee.id }, 'moves the head');
    const delivered = await socket.next('message');
    socket.sendJson({ type: 'ping', id: 'after' });

    const pong = await socket.next('pong', (frame) => frame.id === 'after');
    expect(pong.head).toBe(delivered.pos);
    expect(pong.head).toBeGreaterThan(welcome.head);
    socket.close();
  });
});

describe('placement', () => {
  it('redirects a user who connects to a node that does not own them', async () => {
    const user = await registerUser(cluster.apiUrl, 'wanderer');
    const route = await routeFor(cluster.routerUrl, user.accessToken);
    const other = cluster.nodes.find((node) => node.id !== route.node)!;
    const opened = await RawSocket.open(other.url, user.accessToken);
    if (!opened.ok) throw new Error(`upgrade failed: ${opened.status}`);
    const redirect = await opened.socket.next('redirect');
    expect(redirect.node).toBe(route.node);
    expect(redirect.url).toBe(route.url);
    expect(await opened.socket.closed()).toBe(CloseCode.WrongNode);
  });
});
