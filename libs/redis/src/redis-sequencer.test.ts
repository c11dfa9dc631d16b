import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, UnavailableError, type Reservation, type ReserveRequest } from '@switchboard/core';
import { buildMessage, runSequencerContract, uniqueId, waitFor } from '@switchboard/core/testing';
import { openSqlite, type SqliteHandle } from '@switchboard/embedded';
import { buildDirectConversationId } from '@switchboard/protocol';
import { RedisSequencer, type RedisSequencerOptions } from './redis-sequencer.ts';
import {
  REDIS_URL,
  SKIP_MESSAGE,
  buildTestPrefix,
  deleteKeys,
  isRedisReachable,
  listKeys,
  openAdmin,
} from './test-redis.ts';

const reachable = await isRedisReachable();
if (!reachable) console.warn(SKIP_MESSAGE);

describe.skipIf(!reachable)(`Redis sequencer on ${REDIS_URL}`, () => {
  runSequencerContract('RedisSequencer', async () => {
    const keyPrefix = buildTestPrefix();
    const sqlite = openSqlite(':memory:');
    const sequencer = await RedisSequencer.connect({ url: REDIS_URL, keyPrefix, store: sqlite.store });
    return {
      store: sqlite.store,
      sequencer,
      async close() {
        await sequencer.close();
        const admin = await openAdmin();
        await deleteKeys(admin, keyPrefix);
        await admin.quit();
        await sqlite.close();
      },
    };
  });

  describe('RedisSequencer', () => {
    let prefix: string;
    let admin: Redis;
    let sqlite: SqliteHandle;
    let opened: RedisSequencer[];
    let alice: string;
    let bob: string;
    let conv: string;

    const open = async (options: Partial<RedisSequencerOptions> = {}): Promise<RedisSequencer> => {
      const sequencer = await RedisSequencer.connect({
        url: REDIS_URL,
        keyPrefix: prefix,
        store: sqlite.store,
        ...options,
      });
      opened.push(sequencer);
      return sequencer;
    };

    const request = (clientId: string, overrides: Partial<ReserveRequest> = {}): ReserveRequest => ({
      sender: alice,
      clientId,
      conv,
      targets: [alice, bob],
      now: 1_000,
      ...overrides,
    });

    /** Reserves `count` messages one after another, with client ids `<tag>-0`, `<tag>-1`, ... */
    const reserveMany = async (
      sequencer: RedisSequencer,
      tag: string,
      count: number,
    ): Promise<Reservation[]> => {
      const reservations: Reservation[] = [];
      for (let index = 0; index < count; index += 1) {
        reservations.push(await sequencer.reserve(request(`${tag}-${index}`)));
      }
      return reservations;
    };

    /** Writes the reserved messages to the store, as the persister does after the log append. */
    const persist = (reservations: Reservation[]): Promise<void> =>
      sqlite.store.applyRecords(
        reservations.map((reservation) => buildMessage(conv, reservation.seq, alice, reservation.positions)),
      );

    beforeEach(async () => {
      prefix = buildTestPrefix();
      admin = await openAdmin();
      sqlite = openSqlite(':memory:');
      opened = [];
      alice = uniqueId('alice');
      bob = uniqueId('bob');
      conv = buildDirectConversationId(alice, bob);
      await sqlite.store.ensureDirectConversation(conv, [alice, bob], 1_000);
    });

    afterEach(async () => {
      await Promise.all(opened.map((sequencer) => sequencer.close()));
      await deleteKeys(admin, prefix);
      await admin.quit();
      await sqlite.close();
    });

    it('never repeats a number after Redis loses its keys', async () => {
      const sequencer = await open();
      const before = await reserveMany(sequencer, 'before', 3);
      await persist(before);

      expect(await deleteKeys(admin, prefix)).toBeGreaterThan(0);
      const after = await reserveMany(sequencer, 'after', 3);

      const seqs = [...before, ...after].map((reservation) => reservation.seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
      const bobPositions = [...before, ...after].map((reservation) => reservation.positions[1]!.pos);
      expect(bobPositions).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await sequencer.streamHead(bob)).toBe(6);
    });

    it('re-seeds above unpersisted numbers with the margin', async () => {
      const sequencer = await open({ seedMargin: 10 });
      const before = await reserveMany(sequencer, 'before', 5);
      // Messages 4 and 5 are still in the log's unpersisted tail when Redis loses its keys.
      await persist(before.slice(0, 3));

      await deleteKeys(admin, prefix);
      const [next] = await reserveMany(sequencer, 'after', 1);

      // Counters with nothing stored start at 0, so a new conversation begins at 1.
      expect(before.map((reservation) => reservation.seq)).toEqual([1, 2, 3, 4, 5]);
      // After the loss the stored floor is 3, so the margin lifts the next number past 4 and 5.
      expect(next!.seq).toBe(3 + 10 + 1);
      expect(next!.positions).toEqual([
        { user: alice, pos: 14 },
        { user: bob, pos: 14 },
      ]);
    });

    it('re-seeds only the counter that is missing', async () => {
      const sequencer = await open();
      await persist(await reserveMany(sequencer, 'before', 2));
      await sequencer.nextPositions([alice]);

      await admin.del(`${prefix}head:${bob}`);
      const positions = await sequencer.nextPositions([alice, bob]);

      expect(positions).toEqual([
        { user: alice, pos: 4 },
        { user: bob, pos: 3 },
      ]);
    });

    it('re-seeds the stream head from the store', async () => {
      const sequencer = await open();
      await persist(await reserveMany(sequencer, 'before', 4));

      await deleteKeys(admin, prefix);

      expect(await sequencer.streamHead(bob)).toBe(4);
      expect(await admin.get(`${prefix}head:${bob}`)).toBe('4');
    });

    it('hands out distinct numbers when two processes re-seed at once', async () => {
      const first = await open();
      const second = await open();
      await persist(await reserveMany(first, 'before', 3));

      await deleteKeys(admin, prefix);
      const reservations = await Promise.all(
        Array.from({ length: 40 }, (_, index) =>
          (index % 2 === 0 ? first : second).reserve(request(`c-${index}`)),
        ),
      );

      const seqs = reservations.map((reservation) => reservation.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 40 }, (_, index) => 4 + index));
    });

    it('reads the store once per missing counter during a burst', async () => {
      const reads: string[] = [];
      const store = new Proxy(sqlite.store, {
        get(target, name, receiver) {
          const value = Reflect.get(target, name, receiver) as unknown;
          if (name !== 'maxSeq' && name !== 'maxStreamPos') return value;
          return (key: string) => {
            reads.push(`${name}:${key}`);
            return (value as (key: string) => Promise<number>).call(target, key);
          };
        },
      });
      const sequencer = await open({ store });

      const reservations = await Promise.all(
        Array.from({ length: 200 }, (_, index) => sequencer.reserve(request(`c-${index}`))),
      );

      expect(reservations.map((reservation) => reservation.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 200 }, (_, index) => index + 1),
      );
      expect(reads.sort()).toEqual([`maxSeq:${conv}`, `maxStreamPos:${alice}`, `maxStreamPos:${bob}`].sort());
    });

    it('stores the reservation and counters under the documented keys', async () => {
      const sequencer = await open({ reservationTtlMs: 60_000 });

      const reservation = await sequencer.reserve(request('c-1'));

      const { existing: _existing, ...stored } = reservation;
      expect(JSON.parse((await admin.get(`${prefix}rsv:${alice}:c-1`))!)).toEqual(stored);
      const ttl = await admin.pttl(`${prefix}rsv:${alice}:c-1`);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
      expect(await admin.get(`${prefix}seq:${conv}`)).toBe(String(reservation.seq));
      expect(await admin.get(`${prefix}head:${bob}`)).toBe(String(reservation.positions[1]!.pos));
      expect(await admin.pttl(`${prefix}seq:${conv}`)).toBe(-1);
      expect((await listKeys(admin, prefix)).length).toBe(4);
    });

    it('forgets a reservation after its TTL', async () => {
      const sequencer = await open({ reservationTtlMs: 200 });
      const first = await sequencer.reserve(request('c-1'));

      await waitFor(
        async () => (await admin.exists(`${prefix}rsv:${alice}:c-1`)) === 0,
        'the reservation to expire',
      );
      const late = await sequencer.reserve(request('c-1'));

      expect(late.existing).toBe(false);
      expect(late.seq).toBeGreaterThan(first.seq);
    });

    it('returns the earlier reservation while its counters are missing', async () => {
      const sequencer = await open();
      const first = await sequencer.reserve(request('c-1'));

      await admin.del(`${prefix}seq:${conv}`, `${prefix}head:${alice}`, `${prefix}head:${bob}`);
      const retry = await sequencer.reserve(request('c-1'));

      expect(retry).toEqual({ ...first, existing: true });
      expect(await admin.exists(`${prefix}seq:${conv}`)).toBe(0);
    });

    it('gives a target listed twice one position', async () => {
      const sequencer = await open();

      const reservation = await sequencer.reserve(request('c-1', { targets: [alice, bob, alice] }));
      const positions = await sequencer.nextPositions([bob, bob]);

      expect(reservation.positions).toEqual([
        { user: alice, pos: 1 },
        { user: bob, pos: 1 },
      ]);
      expect(positions).toEqual([{ user: bob, pos: 2 }]);
    });

    it('reserves for a message without targets', async () => {
      const sequencer = await open();

      const reservation = await sequencer.reserve(request('c-1', { targets: [] }));
      const retry = await sequencer.reserve(request('c-1', { targets: [] }));

      expect(reservation).toEqual({ conv, seq: 1, ts: 1_000, positions: [], existing: false });
      expect(retry.positions).toEqual([]);
    });

    it('wraps a Redis error in UnavailableError with its cause', async () => {
      const sequencer = await open();
      await admin.set(`${prefix}seq:${conv}`, 'not-a-number');

      const reserve = sequencer.reserve(request('c-1'));

      await expect(reserve).rejects.toBeInstanceOf(UnavailableError);
      await expect(reserve).rejects.toMatchObject({
        cause: { message: expect.stringMatching(/not an integer/) },
      });
    });

    it('rejects a negative seed margin', async () => {
      await expect(open({ seedMargin: -1 })).rejects.toBeInstanceOf(ConfigError);
    });

    it('rejects calls after close', async () => {
      const sequencer = await open();
      await sequencer.close();

      await expect(sequencer.streamHead(alice)).rejects.toThrow(/closed/);
    });
  });
});
