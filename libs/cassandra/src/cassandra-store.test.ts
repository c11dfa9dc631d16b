import { createServer } from 'node:net';
import type { tracker } from 'cassandra-driver';
import cassandra from 'cassandra-driver';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ConflictError, UnavailableError, type LogRecord } from '@switchboard/core';
import { buildMessage, buildReceipt, runStoreContract, uniqueId } from '@switchboard/core/testing';
import { ErrorCode, buildDirectConversationId } from '@switchboard/protocol';
import { CassandraStore } from './cassandra-store.ts';
import {
  CONTACT_POINTS,
  SKIP_MESSAGE,
  buildTestKeyspace,
  buildTestOptions,
  dropKeyspace,
  isCassandraReachable,
} from './test-cassandra.ts';

const reachable = await isCassandraReachable();
if (!reachable) console.warn(SKIP_MESSAGE);

/** Bucket size of the small-bucket keyspace, so a few dozen messages span several partitions. */
const SMALL_BUCKET = 10;

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

/** Returns a port on 127.0.0.1 that nothing listens on, by binding port 0 and closing it. */
async function findClosedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return address.port;
}

// cassandra-driver 4.10 requires `instanceof RequestTracker`, but its types declare only an
// interface of that name, so the class is taken from the runtime module.
const RequestTrackerClass = (cassandra.tracker as unknown as { RequestTracker: new () => object })
  .RequestTracker;

/** Records the consistency level of every request a client sends. */
class ConsistencyRecorder extends RequestTrackerClass implements tracker.RequestTracker {
  readonly seen: Array<{ query: string; consistency: number }> = [];

  onSuccess(
    _host: unknown,
    query: string | Array<{ query: string }>,
    _parameters: unknown,
    options: { getConsistency(): number },
  ): void {
    const text = typeof query === 'string' ? query : query.map((item) => item.query).join('; ');
    this.seen.push({ query: text, consistency: options.getConsistency() });
  }

  onError(): void {}

  shutdown(): void {}
}

describe.skipIf(!reachable)(`Cassandra store on ${CONTACT_POINTS.join(', ')}`, () => {
  const defaultKeyspace = buildTestKeyspace();
  const smallKeyspace = buildTestKeyspace();
  const stores: CassandraStore[] = [];
  let defaultStore: Promise<CassandraStore> | undefined;
  let smallStore: Promise<CassandraStore> | undefined;

  const connect = async (...args: Parameters<typeof buildTestOptions>): Promise<CassandraStore> => {
    const store = await CassandraStore.connect(buildTestOptions(...args));
    stores.push(store);
    return store;
  };
  // The contract opens a store per test. Connecting once per keyspace keeps the run short,
  // and the contract's random ids keep the tests apart inside one keyspace.
  const openDefault = () => (defaultStore ??= connect(defaultKeyspace));
  const openSmall = () => (smallStore ??= connect(smallKeyspace, { bucketSize: SMALL_BUCKET }));

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await Promise.all([dropKeyspace(defaultKeyspace), dropKeyspace(smallKeyspace)]);
  }, 120_000);

  runStoreContract('CassandraStore', async () => ({ store: await openDefault(), close: async () => {} }));
  runStoreContract(`CassandraStore with buckets of ${SMALL_BUCKET}`, async () => ({
    store: await openSmall(),
    close: async () => {},
  }));

  describe('CassandraStore', () => {
    const buildConversation = () => {
      const alice = uniqueId('alice');
      const bob = uniqueId('bob');
      return { alice, bob, conv: buildDirectConversationId(alice, bob) };
    };

    it('pages history across bucket boundaries', async () => {
      const store = await openSmall();
      const { alice, bob, conv } = buildConversation();
      await store.ensureDirectConversation(conv, [alice, bob], 1_000);
      await store.applyRecords(range(1, 35).map((seq) => buildMessage(conv, seq, seq % 2 ? alice : bob)));

      const older = await store.history(conv, { beforeSeq: 13, limit: 5 });
      const newer = await store.history(conv, { afterSeq: 7, limit: 5 });
      const newest = await store.history(conv, { limit: 7 });
      const inRange = await store.messagesInRange(conv, 8, 21);

      expect(older.map((message) => message.seq)).toEqual([12, 11, 10, 9, 8]);
      expect(newer.map((message) => message.seq)).toEqual([8, 9, 10, 11, 12]);
      expect(newest.map((message) => message.seq)).toEqual([35, 34, 33, 32, 31, 30, 29]);
      expect(inRange.map((message) => message.seq)).toEqual(range(8, 21));
    });

    it('pages history over empty buckets', async () => {
      const store = await openSmall();
      const { alice, bob, conv } = buildConversation();
      await store.ensureDirectConversation(conv, [alice, bob], 1_000);
      const seqs = [...range(1, 5), ...range(41, 45)];
      await store.applyRecords(seqs.map((seq) => buildMessage(conv, seq, alice)));

      const older = await store.history(conv, { beforeSeq: 42, limit: 10 });
      const newer = await store.history(conv, { afterSeq: 3, limit: 4 });

      expect(older.map((message) => message.seq)).toEqual([41, 5, 4, 3, 2, 1]);
      expect(newer.map((message) => message.seq)).toEqual([4, 5, 41, 42]);
    });

    it('reads a sync stream across buckets', async () => {
      const store = await openSmall();
      const { alice, bob, conv } = buildConversation();
      await store.ensureDirectConversation(conv, [alice, bob], 1_000);
      const records: LogRecord[] = range(1, 24).map((seq) =>
        buildMessage(conv, seq, bob, [{ user: alice, pos: seq }]),
      );
      records.push(buildReceipt(conv, bob, 'read', 20, [{ user: alice, pos: 25 }]));
      // Positions 26 to 39 were taken but never used, so bucket 3 is empty.
      records.push(buildMessage(conv, 25, bob, [{ user: alice, pos: 40 }]));
      await store.applyRecords(records);

      const all = await store.readStream(alice, 0, 100);
      const crossing = await store.readStream(alice, 8, 5);
      const overGap = await store.readStream(alice, 24, 10);

      expect(all.map((entry) => entry.pos)).toEqual([...range(1, 25), 40]);
      expect(crossing.map((entry) => entry.pos)).toEqual([9, 10, 11, 12, 13]);
      expect(overGap.map((entry) => entry.kind)).toEqual(['receipt', 'message']);
      expect(overGap[1]).toEqual({ pos: 40, kind: 'message', message: expect.objectContaining({ seq: 25 }) });
      expect(await store.maxStreamPos(alice)).toBe(40);
    });

    it('counts unread messages across buckets', async () => {
      const store = await openSmall();
      const { alice, bob, conv } = buildConversation();
      await store.ensureDirectConversation(conv, [alice, bob], 1_000);
      await store.applyRecords(range(1, 30).map((seq) => buildMessage(conv, seq, seq <= 25 ? bob : alice)));
      await store.applyRecords([buildReceipt(conv, alice, 'read', 5)]);

      const [summary] = await store.listConversations(alice);

      expect(summary?.unread).toBe(20);
      expect(summary?.lastMessage?.seq).toBe(30);
    });

    it('caps the unread count at maxUnreadCount', async () => {
      await openSmall();
      const store = await connect(smallKeyspace, { bucketSize: SMALL_BUCKET, maxUnreadCount: 3 });
      const { alice, bob, conv } = buildConversation();
      await store.ensureDirectConversation(conv, [alice, bob], 1_000);
      await store.applyRecords(range(1, 8).map((seq) => buildMessage(conv, seq, bob)));

      const [summary] = await store.listConversations(alice);

      expect(summary?.unread).toBe(3);
    });

    it('keeps heads when older records arrive late', async () => {
      const store = await openSmall();
      const { alice, bob, conv } = buildConversation();
      await store.applyRecords([buildMessage(conv, 30, bob, [{ user: alice, pos: 30 }])]);
      await store.applyRecords([buildMessage(conv, 2, bob, [{ user: alice, pos: 2 }])]);

      expect(await store.maxSeq(conv)).toBe(30);
      expect(await store.maxStreamPos(alice)).toBe(30);
      expect((await store.history(conv, { limit: 10 })).map((message) => message.seq)).toEqual([30, 2]);
    });

    it('consumes a refresh token once under concurrency', async () => {
      const store = await openDefault();
      const hash = uniqueId('hash');
      await store.saveRefreshToken(hash, 'alice', Date.now() + 60_000);

      const results = await Promise.all([
        store.consumeRefreshToken(hash, Date.now()),
        store.consumeRefreshToken(hash, Date.now()),
      ]);

      expect(results.filter((user) => user === 'alice')).toHaveLength(1);
      expect(results.filter((user) => user === null)).toHaveLength(1);
    });

    it('claims a user name once under concurrency', async () => {
      const store = await openDefault();
      const name = uniqueId('carol');
      const build = (id: string) => ({
        id,
        username: name,
        displayName: 'Carol',
        passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
        createdAt: 1,
      });
      const first = uniqueId('first');
      const second = uniqueId('second');

      const results = await Promise.allSettled([
        store.createUser(build(first)),
        store.createUser(build(second)),
      ]);
      const rejected = results.filter((result) => result.status === 'rejected');
      const owner = (await store.findUserByName(name))?.id;

      expect(rejected).toHaveLength(1);
      expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      expect([first, second]).toContain(owner);
    });

    it('completes a retried create', async () => {
      const store = await openDefault();
      const user = {
        id: uniqueId('dave'),
        username: uniqueId('dave'),
        displayName: 'Dave',
        passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
        createdAt: 5,
      };

      await store.createUser(user);
      await store.createUser(user);

      expect(await store.getUser(user.id)).toEqual(user);
    });

    it('merges prefix shards in name order', async () => {
      const store = await openDefault();
      const prefix = uniqueId('zed');
      const names = range(1, 20).map((index) => `${prefix}-${String(index).padStart(2, '0')}`);
      for (const name of [...names].reverse()) {
        await store.createUser({
          id: name,
          username: name,
          displayName: name,
          passwordHash: 'x',
          createdAt: 1,
        });
      }

      const page = await store.searchUsers(prefix, 15);

      expect(page.map((user) => user.username)).toEqual(names.slice(0, 15));
    });

    it('finds only the exact name for a short prefix', async () => {
      const store = await openDefault();
      // The keyspace is new for each run, so the fixed two-letter name is free.
      const short = 'qz';
      await store.createUser({
        id: uniqueId('q'),
        username: short,
        displayName: 'Q',
        passwordHash: 'x',
        createdAt: 1,
      });

      const exact = await store.searchUsers(short, 10);
      const empty = await store.searchUsers('', 10);

      expect(exact.map((user) => user.username)).toEqual([short]);
      expect(empty).toEqual([]);
    });

    it('rejects a changed bucket size', async () => {
      await openDefault();

      const reopen = CassandraStore.connect(buildTestOptions(defaultKeyspace, { bucketSize: SMALL_BUCKET }));

      await expect(reopen).rejects.toBeInstanceOf(ConfigError);
      await expect(reopen).rejects.toMatchObject({ variable: 'bucketSize' });
    });

    it('uses the configured consistency level', async () => {
      await openDefault();
      const recorder = new ConsistencyRecorder();
      const store = await connect(defaultKeyspace, {
        consistency: 'ONE',
        clientOptions: { requestTracker: recorder },
      });
      const id = uniqueId('erin');

      recorder.seen.length = 0;
      await store.createUser({ id, username: id, displayName: 'Erin', passwordHash: 'x', createdAt: 1 });
      await store.getUser(id);

      const reads = recorder.seen.filter(
        (request) => request.query.includes('FROM') && request.query.includes('.users '),
      );
      expect(recorder.seen.length).toBeGreaterThanOrEqual(4);
      expect(reads).toHaveLength(1);
      expect(new Set(recorder.seen.map((request) => request.consistency))).toEqual(
        new Set([cassandra.types.consistencies.one]),
      );
    });

    it('rejects an unreachable consistency level', async () => {
      // THREE needs three replicas, and the test keyspaces keep one.
      await openDefault();
      const connecting = CassandraStore.connect(buildTestOptions(defaultKeyspace, { consistency: 'THREE' }));

      await expect(connecting).rejects.toBeInstanceOf(UnavailableError);
      await expect(connecting).rejects.toMatchObject({ code: ErrorCode.Unavailable });
      await expect(connecting).rejects.toThrow(/THREE/);
    });

    it('wraps driver failures with their cause', async () => {
      const store = await connect(defaultKeyspace);
      await store.close();

      const read = store.getUser('alice');

      await expect(read).rejects.toBeInstanceOf(UnavailableError);
      await expect(read).rejects.toHaveProperty('cause', expect.any(Error));
    });
  });
});

describe('CassandraStore.connect', () => {
  it('rejects a connect when no node answers', async () => {
    const port = await findClosedPort();

    const connecting = CassandraStore.connect(
      buildTestOptions('swb_test_unreachable', { contactPoints: [`127.0.0.1:${port}`] }),
    );

    await expect(connecting).rejects.toBeInstanceOf(UnavailableError);
    await expect(connecting).rejects.toThrow(`127.0.0.1:${port}`);
  });

  it.each([
    ['keyspace', { keyspace: 'Bad-Name' }],
    ['contactPoints', { contactPoints: [] }],
    ['bucketSize', { bucketSize: 0 }],
    ['replication', { replication: { replication_factor: 1 } }],
    ['consistency', { consistency: 'MOST' as never }],
  ])('rejects an invalid %s option', async (variable, overrides) => {
    const connecting = CassandraStore.connect(buildTestOptions('swb_test_options', overrides));

    await expect(connecting).rejects.toBeInstanceOf(ConfigError);
    await expect(connecting).rejects.toMatchObject({ variable });
  });
});
