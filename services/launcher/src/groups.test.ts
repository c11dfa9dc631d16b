import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendRejectedError, type GroupInfo } from '@switchboard/client';
import { buildDirectConversationId, ErrorCode, type MessageFrame } from '@switchboard/protocol';
import { RawSocket } from './testing/raw-socket.ts';
import {
  registerUser,
  routeFor,
  startTestCluster,
  waitFor,
  type TestCluster,
  type TestUser,
} from './testing/cluster.ts';
import { connectDevice, type Device } from './testing/sdk.ts';

/** Groups above this many members are large in this suite, so a channel of 7 takes the pull path. */
const LARGE_GROUP_THRESHOLD = 5;
const TYPING_TTL_MS = 800;

let cluster: TestCluster;
const devices: Device[] = [];
const sockets: RawSocket[] = [];
let userCount = 0;

async function device(user: TestUser): Promise<Device> {
  const created = await connectDevice(cluster, user);
  devices.push(created);
  return created;
}

async function register(prefix: string): Promise<TestUser> {
  userCount += 1;
  return registerUser(cluster.apiUrl, `${prefix}${userCount}`);
}

/** Registers users until every chat node owns at least one of them, and returns them. */
async function registerAcrossNodes(prefix: string): Promise<TestUser[]> {
  const users: TestUser[] = [];
  const nodes = new Set<string>();
  for (let attempt = 0; attempt < 40 && nodes.size < cluster.nodes.length; attempt++) {
    const user = await register(prefix);
    const node = (await routeFor(cluster.routerUrl, user.accessToken)).node;
    if (nodes.has(node)) continue;
    nodes.add(node);
    users.push(user);
  }
  if (nodes.size < cluster.nodes.length) throw new Error('no user landed on some chat node in 40 tries');
  return users;
}

async function api(user: TestUser, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${cluster.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${user.accessToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function historySeqs(user: TestUser, conv: string): Promise<number[]> {
  const response = await api(user, 'GET', `/v1/conversations/${conv}/messages?limit=100&direction=newer`);
  expect(response.status, await response.clone().text()).toBe(200);
  const page = (await response.json()) as { messages: Array<{ seq: number }> };
  return page.messages.map((message) => message.seq);
}

function of(device: Device, conv: string): MessageFrame[] {
  return device.messages.filter((message) => message.conv === conv);
}

async function openRaw(user: TestUser): Promise<RawSocket> {
  const route = await routeFor(cluster.routerUrl, user.accessToken);
  const { socket } = await RawSocket.openWelcomed(route.url, user.accessToken);
  sockets.push(socket);
  return socket;
}

beforeAll(async () => {
  cluster = await startTestCluster({
    largeGroupThreshold: LARGE_GROUP_THRESHOLD,
    realtime: { noticeIntervalMs: 200, typingTtlMs: TYPING_TTL_MS, typingPerSecond: 2 },
  });
}, 180_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  for (const created of devices) await created.client.close();
  await cluster?.destroy();
});

describe('groups across chat nodes', () => {
  it('delivers every message to every member in one order', async () => {
    const users = await registerAcrossNodes('spread');
    const [admin, ...others] = users;
    const members = await Promise.all(users.map((user) => device(user)));
    const group = await members[0]!.client.createGroup('Spread', { members: others.map((user) => user.id) });
    expect(group.memberCount).toBe(users.length);

    for (const member of members) {
      await waitFor(
        () =>
          member.memberships.some((event) => event.conv === group.conv && event.event.action === 'created'),
        `${member.client.userId} to see the group created`,
      );
    }
    const sent: string[] = [];
    for (let round = 0; round < 4; round++) {
      for (const [index, member] of members.entries()) {
        const body = `round ${round} from ${index}`;
        sent.push(body);
        await member.client.send({ conv: group.conv }, body);
      }
    }

    const orders = await Promise.all(
      members.map((member) => member.waitForMessages(group.conv, sent.length)),
    );
    const reference = orders[0]!.map((message) => message.seq);
    for (const order of orders) {
      expect(order.map((message) => message.seq)).toEqual(reference);
      expect(new Set(order.map((message) => message.body))).toEqual(new Set(sent));
    }
    expect(reference).toEqual([...reference].sort((a, b) => a - b));
    const stored = await historySeqs(admin!, group.conv);
    for (const seq of reference) expect(stored).toContain(seq);
  });

  it('tells members of a rename, an addition and a promotion', async () => {
    const [admin, bob, carol] = [
      await register('rename'),
      await register('rename'),
      await register('rename'),
    ];
    const adminDevice = await device(admin);
    const bobDevice = await device(bob);
    const group = await adminDevice.client.createGroup('Before', { members: [bob.id] });

    await adminDevice.client.renameGroup(group.id, 'After');
    const added = await adminDevice.client.addMembers(group.id, [carol.id]);
    const promoted = await adminDevice.client.promoteMember(group.id, bob.id);
    const carolDevice = await device(carol);
    await bobDevice.client.send({ conv: group.conv }, 'hello carol');

    const actions = () =>
      bobDevice.memberships.filter((event) => event.conv === group.conv).map((e) => e.event.action);
    await waitFor(() => actions().length >= 4, 'bob to see four group changes');
    expect(actions()).toEqual(['created', 'renamed', 'added', 'promoted']);
    expect(added.members.find((member) => member.user === carol.id)?.joinedSeq).toBeGreaterThan(0);
    expect(promoted.members.find((member) => member.user === bob.id)?.role).toBe('admin');
    const [first] = await carolDevice.waitForMessages(group.conv, 1);
    expect(first?.body).toBe('hello carol');
    // Carol joined after the rename, so her history starts at the event that added her.
    const carolJoined = added.members.find((member) => member.user === carol.id)!.joinedSeq;
    expect(Math.min(...(await historySeqs(carol, group.conv)))).toBe(carolJoined);
  });

  it('rejects a change by a member who is not an admin', async () => {
    const [admin, bob] = [await register('forbid'), await register('forbid')];
    const adminDevice = await device(admin);
    const group = await adminDevice.client.createGroup('Team', { members: [bob.id] });

    const response = await api(bob, 'PATCH', `/v1/groups/${group.id}`, { name: 'Mine' });

    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      ErrorCode.ConversationForbidden,
    );
  });
});

describe('removal', () => {
  it('rejects or delivers whole a send racing the removal of its sender', async () => {
    const [admin, bob, carol] = [await register('race'), await register('race'), await register('race')];
    const adminDevice = await device(admin);
    const bobDevice = await device(bob);
    const carolDevice = await device(carol);
    const group: GroupInfo = await adminDevice.client.createGroup('Race', { members: [bob.id, carol.id] });
    await waitFor(
      () => bobDevice.memberships.some((event) => event.conv === group.conv),
      'bob to see the group created',
    );

    const outcomes: Array<{ body: string; seq: number | null }> = [];
    const burst = (async () => {
      for (let i = 0; i < 30; i++) {
        const body = `racing ${i}`;
        try {
          const ack = await bobDevice.client.send({ conv: group.conv }, body);
          outcomes.push({ body, seq: ack.seq });
        } catch (err) {
          expect(err).toBeInstanceOf(SendRejectedError);
          expect((err as SendRejectedError).frame.code).toBe(ErrorCode.ConversationNotFound);
          outcomes.push({ body, seq: null });
        }
      }
    })();
    await waitFor(() => outcomes.length >= 3, 'a few of bob sends to settle');
    const removed = await api(admin, 'DELETE', `/v1/groups/${group.id}/members/${bob.id}`);
    expect(removed.status).toBe(200);
    await burst;

    const acked = outcomes.filter((outcome) => outcome.seq !== null);
    const rejected = outcomes.filter((outcome) => outcome.seq === null);
    expect(acked.length + rejected.length).toBe(30);
    expect(rejected.length).toBeGreaterThan(0);

    // Every acknowledged send reached the other members and storage; no rejected one did.
    await carolDevice.waitForMessages(group.conv, acked.length);
    const carolBodies = of(carolDevice, group.conv).map((message) => message.body);
    for (const outcome of acked) expect(carolBodies).toContain(outcome.body);
    for (const outcome of rejected) expect(carolBodies).not.toContain(outcome.body);
    const stored = await historySeqs(admin, group.conv);
    for (const outcome of acked) expect(stored).toContain(outcome.seq);

    // Nothing sent after the removal reaches bob or his reads.
    await waitFor(
      () => bobDevice.memberships.some((event) => event.event.action === 'removed'),
      'bob to learn of his removal',
    );
    const removal = bobDevice.memberships.find((event) => event.event.action === 'removed')!;
    for (const outcome of acked) expect(outcome.seq!).toBeLessThan(removal.seq);
    for (let i = 0; i < 5; i++) await adminDevice.client.send({ conv: group.conv }, `after removal ${i}`);
    await carolDevice.waitForMessages(group.conv, acked.length + 5);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(of(bobDevice, group.conv).filter((message) => message.seq > removal.seq)).toEqual([]);
    expect(Math.max(...(await historySeqs(bob, group.conv)))).toBe(removal.seq);
    const bobSocket = await openRaw(bob);
    bobSocket.sendJson({ type: 'fetch', conv: group.conv, from: removal.seq + 1, to: removal.seq + 5 });
    const fetched = await bobSocket.next('fetched');
    expect(fetched.messages).toEqual([]);
    expect((await api(bob, 'GET', `/v1/groups/${group.id}`)).status).toBe(404);
  }, 60_000);

  it('settles each send of a burst around the removal as acknowledged or rejected', async () => {
    const [admin, bob, carol] = [await register('burst'), await register('burst'), await register('burst')];
    const adminDevice = await device(admin);
    const carolDevice = await device(carol);
    const group = await adminDevice.client.createGroup('Burst', { members: [bob.id, carol.id] });
    const bobSocket = await openRaw(bob);
    // One acknowledged send first, so bob's node has the group in its cache when the burst starts.
    bobSocket.sendJson({ type: 'send', id: 'warm', conv: group.conv, body: 'warm' });
    await bobSocket.next('ack', (ack) => ack.id === 'warm');

    const ids = Array.from({ length: 60 }, (_, index) => `burst-${index}`);
    for (const id of ids.slice(0, 30)) bobSocket.sendJson({ type: 'send', id, conv: group.conv, body: id });
    const removing = api(admin, 'DELETE', `/v1/groups/${group.id}/members/${bob.id}`);
    for (const id of ids.slice(30)) bobSocket.sendJson({ type: 'send', id, conv: group.conv, body: id });
    expect((await removing).status).toBe(200);

    const outcomeOf = (id: string) =>
      bobSocket.frames.find(
        (frame) => (frame.type === 'ack' && frame.id === id) || (frame.type === 'error' && frame.ref === id),
      );
    await waitFor(() => ids.every((id) => outcomeOf(id) !== undefined), 'every send of the burst to settle');
    const acked = new Map<string, number>();
    for (const id of ids) {
      const outcome = outcomeOf(id)!;
      if (outcome.type === 'ack') acked.set(id, outcome.seq);
      else expect(outcome).toMatchObject({ type: 'error', code: ErrorCode.ConversationNotFound });
    }

    const removal = await waitForRemoval(carolDevice, group.conv, bob.id);
    for (const seq of acked.values()) expect(seq).toBeLessThan(removal);
    await carolDevice.waitForMessages(group.conv, acked.size + 1);
    const carolBodies = of(carolDevice, group.conv).map((message) => message.body);
    for (const id of ids) expect(carolBodies.includes(id)).toBe(acked.has(id));
    const stored = await historySeqs(carol, group.conv);
    for (const seq of acked.values()) expect(stored).toContain(seq);
  }, 60_000);
});

/** Waits until `device` saw `user` removed from `conv` and returns the removal's sequence number. */
async function waitForRemoval(device: Device, conv: string, user: string): Promise<number> {
  const find = () =>
    device.memberships.find(
      (event) => event.conv === conv && event.event.action === 'removed' && event.event.users.includes(user),
    );
  // The removal follows a burst of sends that the node settles first, which took over 5 s once in
  // a cluster pass on a loaded machine.
  await waitFor(() => find() !== undefined, `the removal of ${user} from ${conv}`, 20_000);
  return find()!.seq;
}

describe('large channels', () => {
  it('notifies online members, who pull the messages', async () => {
    const admin = await register('chan');
    const others = [];
    for (let i = 0; i < LARGE_GROUP_THRESHOLD + 1; i++) others.push(await register('chan'));
    const adminDevice = await device(admin);
    const channel = await adminDevice.client.createGroup('News', {
      kind: 'channel',
      members: others.map((user) => user.id),
    });
    expect(channel.memberCount).toBeGreaterThan(LARGE_GROUP_THRESHOLD);
    const readers = [await device(others[0]!), await device(others[1]!)];

    const sent: string[] = [];
    for (let i = 0; i < 30; i++) {
      sent.push(`news ${i}`);
      await adminDevice.client.send({ conv: channel.conv }, `news ${i}`);
    }

    for (const reader of readers) {
      const received = await reader.waitForMessages(channel.conv, 30, 20_000);
      expect(received.map((message) => message.body)).toEqual(sent);
      // Notices are coalesced per interval: far fewer frames than messages.
      expect(reader.notices.length).toBeGreaterThan(0);
      expect(reader.notices.length).toBeLessThan(30);
      // Bodies were pulled, not pushed: none of them carried a stream position.
      expect(received.every((message) => message.pos === undefined)).toBe(true);
    }
  }, 60_000);

  it('writes no stream entries for large channel messages', async () => {
    const admin = await register('quiet');
    const members = [];
    for (let i = 0; i < LARGE_GROUP_THRESHOLD + 1; i++) members.push(await register('quiet'));
    const adminDevice = await device(admin);
    const channel = await adminDevice.client.createGroup('Quiet', {
      kind: 'channel',
      members: members.map((user) => user.id),
    });
    const socket = await openRaw(members[0]!);
    socket.sendJson({ type: 'sync', after: 0 });
    const before = await socket.next('sync');

    for (let i = 0; i < 5; i++) await adminDevice.client.send({ conv: channel.conv }, `quiet ${i}`);
    await socket.next('notice', (notice) => notice.conv === channel.conv);
    socket.sendJson({ type: 'sync', after: before.head });
    const after = await socket.next('sync');

    expect(after.entries.filter((entry) => entry.conv === channel.conv)).toEqual([]);
    expect((await historySeqs(members[0]!, channel.conv)).length).toBeGreaterThanOrEqual(5);
  }, 60_000);

  it('lets only admins post in a channel', async () => {
    const [admin, reader] = [await register('post'), await register('post')];
    const adminDevice = await device(admin);
    const readerDevice = await device(reader);
    const channel = await adminDevice.client.createGroup('Announcements', {
      kind: 'channel',
      members: [reader.id],
    });

    const attempt = readerDevice.client.send({ conv: channel.conv }, 'may I?');

    await expect(attempt).rejects.toBeInstanceOf(SendRejectedError);
    await expect(attempt).rejects.toMatchObject({ frame: { code: ErrorCode.ConversationForbidden } });
  });
});

describe('typing indicators', () => {
  it('expire at the receiver when no stop arrives', async () => {
    const [alice, bob] = [await register('typing'), await register('typing')];
    const aliceDevice = await device(alice);
    const bobDevice = await device(bob);
    const group = await aliceDevice.client.createGroup('Typing', { members: [bob.id] });
    await waitFor(() => bobDevice.memberships.length > 0, 'bob to see the group');

    aliceDevice.client.setTyping(group.conv, true);
    await waitFor(() => bobDevice.typing.length >= 1, 'bob to see alice typing');
    const started = Date.now();
    await waitFor(() => bobDevice.typing.length >= 2, 'the indicator to expire', TYPING_TTL_MS * 5);

    expect(bobDevice.typing).toEqual([
      { conv: group.conv, user: alice.id, typing: true },
      { conv: group.conv, user: alice.id, typing: false },
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TYPING_TTL_MS / 2);
    // Only the other members get it.
    expect(aliceDevice.typing).toEqual([]);
  });

  it('drops typing frames above the rate and from non-members', async () => {
    const [alice, bob, mallory] = [await register('flood'), await register('flood'), await register('flood')];
    const aliceDevice = await device(alice);
    const bobSocket = await openRaw(bob);
    const group = await aliceDevice.client.createGroup('Flood', { members: [bob.id] });
    const malloryFloods = await openRaw(mallory);
    const aliceFloods = await openRaw(alice);

    for (let i = 0; i < 20; i++) aliceFloods.sendJson({ type: 'typing', conv: group.conv, state: 'start' });
    malloryFloods.sendJson({ type: 'typing', conv: group.conv, state: 'start' });
    const rejected = await malloryFloods.next('error');
    await bobSocket.next('typing');
    await new Promise((resolve) => setTimeout(resolve, 500));

    expect(rejected.code).toBe(ErrorCode.ConversationNotFound);
    const received = bobSocket.frames.filter((frame) => frame.type === 'typing');
    // A burst of twice the per-second rate (2) passes; one frame was already taken above.
    expect(received.length + 1).toBeLessThanOrEqual(4);
    expect(received.every((frame) => frame.type === 'typing' && frame.user === alice.id)).toBe(true);
  });
});

describe('blocking', () => {
  it('accepts but never delivers messages to a blocker, and hides their presence', async () => {
    const [alice, bob] = [await register('block'), await register('block')];
    const aliceDevice = await device(alice);
    const bobDevice = await device(bob);
    const conv = buildDirectConversationId(alice.id, bob.id);
    await aliceDevice.client.send({ to: bob.id }, 'before the block');
    await bobDevice.waitForMessages(conv, 1);

    await aliceDevice.client.block(bob.id);
    expect(await aliceDevice.client.blockedUsers()).toEqual([bob.id]);
    const ack = await bobDevice.client.send({ conv }, 'while blocked');
    bobDevice.client.subscribePresence([alice.id]);
    await waitFor(() => bobDevice.presence.length >= 1, 'bob to get alice presence');
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(ack.seq).toBeGreaterThan(0);
    expect(of(aliceDevice, conv).map((message) => message.body)).toEqual(['before the block']);
    expect(bobDevice.presence[0]).toEqual({ user: alice.id, online: false });
    const aliceHistory = await api(alice, 'GET', `/v1/conversations/${conv}/messages`);
    const bodies = ((await aliceHistory.json()) as { messages: Array<{ body: string }> }).messages.map(
      (m) => m.body,
    );
    expect(bodies).toEqual(['before the block']);

    await aliceDevice.client.unblock(bob.id);
    await waitFor(
      () => bobDevice.presence.some((entry) => entry.user === alice.id && entry.online),
      'alice presence to show again after the unblock',
    );
    await bobDevice.client.send({ conv }, 'after the unblock');
    const received = await aliceDevice.waitForMessages(conv, 2);
    expect(received.map((message) => message.body)).toEqual(['before the block', 'after the unblock']);
  }, 30_000);
});
