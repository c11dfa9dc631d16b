import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardClient, type ClientState } from '@switchboard/client';
import { createLogger } from '@switchboard/core';
import { startEmbeddedCluster, type EmbeddedCluster } from '@switchboard/launcher';
import { buildDirectConversationId } from '@switchboard/protocol';
import { ChatModel, type ChatSnapshot } from './chat-model.ts';
import { stateKeyOf } from './local-storage-state-store.ts';
import { MemoryStorage } from './memory-storage.ts';
import { readTokenExpiry, SESSION_KEY } from './saved-session.ts';

let cluster: EmbeddedCluster;
let dataDir: string;
const cleanups: Array<() => Promise<void> | void> = [];

interface TestUser {
  id: string;
  username: string;
  password: string;
}

async function register(username: string): Promise<TestUser> {
  const client = new SwitchboardClient({ apiUrl: cluster.apiUrl });
  const auth = await client.register(username, `${username}-secret`);
  return { id: auth.user.id, username, password: `${username}-secret` };
}

/** Connects an SDK client for the other side of the conversation. */
async function peer(user: TestUser): Promise<SwitchboardClient> {
  const client = new SwitchboardClient({ apiUrl: cluster.apiUrl });
  await client.login(user.username, user.password);
  await client.connect();
  cleanups.push(() => client.close());
  return client;
}

function model(storage = new MemoryStorage()): ChatModel {
  const created = new ChatModel({ apiUrl: cluster.apiUrl, storage });
  cleanups.push(() => created.dispose());
  return created;
}

/** Waits until a snapshot satisfies `check`, or fails with `message` after 10 s. */
function waitForSnapshot(
  chat: ChatModel,
  check: (snapshot: ChatSnapshot) => boolean,
  message: string,
): Promise<ChatSnapshot> {
  return new Promise((resolve, reject) => {
    const test = () => {
      const snapshot = chat.getSnapshot();
      if (!check(snapshot)) return false;
      clearTimeout(timer);
      unsubscribe();
      resolve(snapshot);
      return true;
    };
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after 10000 ms: ${message}`));
    }, 10_000);
    const unsubscribe = chat.subscribe(test);
    test();
  });
}

/** Polls `check` every 20 ms until it returns true, or fails with `message` after 10 s. */
async function waitUntil(check: () => boolean, message: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after 10000 ms: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function unreadOf(snapshot: ChatSnapshot, conv: string): number | undefined {
  return snapshot.conversations.find((conversation) => conversation.id === conv)?.unread;
}

function statusOf(snapshot: ChatSnapshot, conv: string, body: string): string | null | undefined {
  return snapshot.threads.get(conv)?.messages.find((message) => message.body === body)?.status;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'switchboard-web-model-'));
  cluster = await startEmbeddedCluster({
    dataDir,
    host: '127.0.0.1',
    httpPort: 0,
    chatNodes: 2,
    chatPortBase: 0,
    heartbeatIntervalMs: 200,
    heartbeatTtlMs: 600,
    logger: createLogger('web-model-test', { level: 'silent' }),
  });
});

// Stopping a cluster drains its chat nodes, which took over 30 s once on a loaded machine.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('ChatModel', () => {
  it('counts unread messages and clears them on markRead', async () => {
    const alice = await register('unread-a');
    const bob = await register('unread-b');
    const conv = buildDirectConversationId(alice.id, bob.id);
    const bobClient = await peer(bob);
    for (const body of ['one', 'two', 'three']) await bobClient.send({ to: alice.id }, body);

    const chat = model();
    await chat.login(alice.username, alice.password);
    await waitForSnapshot(chat, (s) => unreadOf(s, conv) === 3, 'the list shows 3 unread messages');

    chat.openConversation(conv);
    const loaded = await waitForSnapshot(
      chat,
      (s) => s.threads.get(conv)?.loaded === true,
      'the thread loads',
    );
    const seqs = loaded.threads.get(conv)!.messages.map((message) => message.seq!);
    chat.markRead(conv, seqs[1]!);
    await waitForSnapshot(chat, (s) => unreadOf(s, conv) === 1, 'reading up to "two" leaves 1 unread');
    chat.markRead(conv, seqs[2]!);
    await waitForSnapshot(chat, (s) => unreadOf(s, conv) === 0, 'reading up to "three" leaves none');

    await bobClient.send({ to: alice.id }, 'four');
    await waitForSnapshot(chat, (s) => unreadOf(s, conv) === 1, 'a new message counts as unread');
  });

  it('moves own messages from sending to read', async () => {
    const alice = await register('ticks-a');
    const bob = await register('ticks-b');
    const conv = buildDirectConversationId(alice.id, bob.id);
    const bobClient = await peer(bob);
    const chat = model();
    await chat.login(alice.username, alice.password);
    await waitForSnapshot(chat, (s) => s.connection === 'ready', 'the client connects');

    chat.send(conv, 'hello');
    // The snapshot is rebuilt in a microtask; no ack can arrive before it.
    await Promise.resolve();
    expect(statusOf(chat.getSnapshot(), conv, 'hello')).toBe('sending');
    const sent = await waitForSnapshot(
      chat,
      (s) => statusOf(s, conv, 'hello') === 'delivered',
      'the message reaches bob, who acknowledges delivery',
    );
    const seq = sent.threads.get(conv)!.messages.find((message) => message.body === 'hello')!.seq!;
    expect(seq).toBeGreaterThan(0);

    bobClient.markRead(conv, seq);
    await waitForSnapshot(chat, (s) => statusOf(s, conv, 'hello') === 'read', 'bob reads it');
  });

  it('shows the saved outbox after a restart and sends it once', async () => {
    const alice = await register('outbox-a');
    const bob = await register('outbox-b');
    const conv = buildDirectConversationId(alice.id, bob.id);
    const bobClient = await peer(bob);
    const received: string[] = [];
    bobClient.on('message', (message) => received.push(message.body));

    // A page that logged in and saved a message that never reached the node.
    const storage = new MemoryStorage();
    const login = new SwitchboardClient({ apiUrl: cluster.apiUrl });
    const auth = await login.login(alice.username, alice.password);
    storage.setItem(SESSION_KEY, JSON.stringify(auth));
    const saved: ClientState = {
      user: alice.id,
      streamPos: null,
      lastSeq: {},
      outbox: [
        { id: 'queued-before-reload', target: { conv }, body: 'from the outbox', createdAt: Date.now() },
      ],
      heldBack: [],
    };
    storage.setItem(stateKeyOf(alice.id), JSON.stringify(saved));

    const chat = model(storage);
    chat.start();
    await waitForSnapshot(
      chat,
      (s) => statusOf(s, conv, 'from the outbox') === 'sending',
      'the restored message shows as sending',
    );
    await waitForSnapshot(
      chat,
      (s) => ['sent', 'delivered', 'read'].includes(statusOf(s, conv, 'from the outbox') ?? ''),
      'the restored message is acknowledged',
    );
    await waitUntil(() => received.includes('from the outbox'), 'bob receives the restored message');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received.filter((body) => body === 'from the outbox')).toHaveLength(1);
    expect(JSON.parse(storage.getItem(stateKeyOf(alice.id))!).outbox).toEqual([]);
  });

  it('refreshes tokens before the access token expires', async () => {
    const shortDir = mkdtempSync(join(tmpdir(), 'switchboard-web-refresh-'));
    const short = await startEmbeddedCluster({
      dataDir: shortDir,
      host: '127.0.0.1',
      httpPort: 0,
      chatNodes: 1,
      chatPortBase: 0,
      // The SDK refreshes on its own only within 10 s of the expiry, when it connects.
      accessTtlSeconds: 12,
      logger: createLogger('web-refresh-test', { level: 'silent' }),
    });
    cleanups.push(async () => {
      await short.stop();
      rmSync(shortDir, { recursive: true, force: true });
    });
    const statuses: number[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const storage = new MemoryStorage();
    const chat = new ChatModel({
      apiUrl: short.apiUrl,
      storage,
      refreshAheadMs: 10_000,
      client: { fetch: recordingFetch },
    });
    cleanups.push(() => chat.dispose());
    await chat.register('refresh-a', 'refresh-a-secret');
    const firstToken = JSON.parse(storage.getItem(SESSION_KEY)!).accessToken as string;
    const firstExpiry = readTokenExpiry(firstToken)! * 1000;

    await waitUntil(
      () => JSON.parse(storage.getItem(SESSION_KEY)!).accessToken !== firstToken,
      'the model saves refreshed tokens',
    );
    expect(Date.now()).toBeLessThan(firstExpiry);

    // Past the first token's expiry, requests carry the new token and get no 401.
    await new Promise((resolve) => setTimeout(resolve, firstExpiry - Date.now() + 500));
    await chat.searchUsers('refresh');
    expect(statuses).not.toContain(401);
  }, 30_000);

  it('follows presence and typing of peers', async () => {
    const alice = await register('live-a');
    const bob = await register('live-b');
    const conv = buildDirectConversationId(alice.id, bob.id);
    const bobClient = await peer(bob);
    await bobClient.send({ to: alice.id }, 'ping');

    const chat = model();
    await chat.login(alice.username, alice.password);
    await waitForSnapshot(chat, (s) => s.presence.get(bob.id)?.online === true, 'bob shows online');

    bobClient.setTyping(conv, true);
    await waitForSnapshot(chat, (s) => s.typing.get(conv)?.includes(bob.id) === true, 'bob shows typing');
    bobClient.setTyping(conv, false);
    await waitForSnapshot(chat, (s) => !s.typing.has(conv), 'the stop ends the indicator');

    await bobClient.close();
    const offline = await waitForSnapshot(
      chat,
      (s) => s.presence.get(bob.id)?.online === false,
      'bob shows offline after his client closes',
    );
    expect(offline.presence.get(bob.id)?.lastSeen).toBeGreaterThan(0);
  });

  it('applies group changes from membership events', async () => {
    const alice = await register('group-a');
    const bob = await register('group-b');
    const carol = await register('group-c');
    const chat = model();
    await chat.login(alice.username, alice.password);
    await waitForSnapshot(chat, (s) => s.connection === 'ready', 'the client connects');

    const bobUser = { id: bob.id, username: bob.username, displayName: bob.username };
    const conv = await chat.createGroup('Planning', [bobUser]);
    chat.openConversation(conv);
    const created = await waitForSnapshot(
      chat,
      (s) => s.conversations.find((c) => c.id === conv)?.group?.detailsLoaded === true,
      'the group loads with its admins',
    );
    const view = created.conversations.find((c) => c.id === conv)!;
    expect(view.title).toBe('Planning');
    expect(view.group?.admins).toEqual([alice.id]);
    expect(view.members.map((member) => member.id).sort()).toEqual([alice.id, bob.id].sort());

    // Changes made by another admin's device arrive as system messages.
    const bobClient = await peer(bob);
    const groupId = conv.slice(2);
    await chat.promoteGroupMember(conv, bob.id);
    await bobClient.addMembers(groupId, [carol.id]);
    await bobClient.renameGroup(groupId, 'Planning 2');
    const changed = await waitForSnapshot(
      chat,
      (s) =>
        s.conversations.find((c) => c.id === conv)?.title === 'Planning 2' &&
        s.threads.get(conv)?.messages.at(-1)?.event?.action === 'renamed' &&
        s.conversations.find((c) => c.id === conv)?.members.length === 3,
      'the rename and the new member arrive',
    );
    const group = changed.conversations.find((c) => c.id === conv)!;
    expect(group.members.map((member) => member.id).sort()).toEqual([alice.id, bob.id, carol.id].sort());
    expect(group.group?.admins).toEqual([alice.id, bob.id].sort());
    const actions = changed.threads
      .get(conv)!
      .messages.map((message) => message.event?.action ?? message.body);
    expect(actions).toEqual(['created', 'promoted', 'added', 'renamed']);
    expect(group.unread).toBe(0);

    await bobClient.removeMember(groupId, alice.id);
    // A conversation list or group read that returns after the removal can mark the group as
    // left before the removal event arrives on the socket, so the wait covers both.
    const removed = await waitForSnapshot(
      chat,
      (s) =>
        s.conversations.find((c) => c.id === conv)?.group?.left === true &&
        s.threads.get(conv)?.messages.at(-1)?.event?.action === 'removed',
      'the removal event, with the group marked as left',
    );
    expect(removed.threads.get(conv)!.messages.at(-1)?.event).toEqual({
      action: 'removed',
      users: [alice.id],
    });
  });

  it('forgets the session and the state on logout', async () => {
    const alice = await register('logout-a');
    const storage = new MemoryStorage();
    const chat = model(storage);
    await chat.login(alice.username, alice.password);
    await waitForSnapshot(chat, (s) => s.connection === 'ready', 'the client connects');
    expect(storage.getItem(SESSION_KEY)).not.toBeNull();

    await chat.logout();
    const snapshot = await waitForSnapshot(chat, (s) => s.phase === 'signed-out', 'the model signs out');
    expect(snapshot.me).toBeNull();
    expect(storage.getItem(SESSION_KEY)).toBeNull();
    expect(storage.getItem(stateKeyOf(alice.id))).toBeNull();
  });
});
