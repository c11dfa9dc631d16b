import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, buildDirectConversationId } from '@switchboard/protocol';
import { ConflictError } from '../errors.ts';
import type { ReserveRequest, Sequencer, Store } from '../ports/index.ts';
import type { StoreFixture } from './store-contract.ts';
import { buildMessage } from './test-records.ts';
import { uniqueId } from './wait-for.ts';

function isStrictlyIncreasing(values: number[]): boolean {
  return values.every((value, index) => index === 0 || value > values[index - 1]!);
}

/**
 * Declares the behaviour every Sequencer adapter must have, next to the Store it re-seeds from.
 *
 * Users and conversations carry a random suffix, so the suite can run against servers
 * that other runs share.
 */
export function runSequencerContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} sequencer contract`, () => {
    let fixture: StoreFixture;
    let store: Store;
    let sequencer: Sequencer;
    let alice: string;
    let bob: string;
    let conv: string;

    const request = (clientId: string, overrides: Partial<ReserveRequest> = {}): ReserveRequest => ({
      sender: alice,
      clientId,
      conv,
      targets: [alice, bob],
      now: 1_000,
      ...overrides,
    });

    beforeEach(async () => {
      fixture = await open();
      if (fixture.sequencer === undefined) throw new Error('the sequencer contract needs fixture.sequencer');
      store = fixture.store;
      sequencer = fixture.sequencer;
      alice = uniqueId('alice');
      bob = uniqueId('bob');
      conv = buildDirectConversationId(alice, bob);
      await store.ensureDirectConversation(conv, [alice, bob], 1_000);
    });

    afterEach(async () => {
      await fixture.close();
    });

    it('hands out distinct numbers to concurrent reserves', async () => {
      const reservations = await Promise.all(
        Array.from({ length: 200 }, (_, index) => sequencer.reserve(request(`c-${index}`))),
      );

      const seqs = reservations.map((reservation) => reservation.seq);
      const alicePositions = reservations.map((reservation) => reservation.positions[0]!.pos);
      const bobPositions = reservations.map((reservation) => reservation.positions[1]!.pos);
      expect(new Set(seqs).size).toBe(200);
      expect(seqs.every((seq) => Number.isSafeInteger(seq) && seq > 0)).toBe(true);
      expect(new Set(alicePositions).size).toBe(200);
      expect(new Set(bobPositions).size).toBe(200);
      expect(reservations.every((reservation) => !reservation.existing)).toBe(true);
    });

    it('hands out increasing numbers to sequential reserves', async () => {
      const seqs: number[] = [];
      for (let index = 0; index < 5; index += 1) {
        seqs.push((await sequencer.reserve(request(`c-${index}`))).seq);
      }

      expect(isStrictlyIncreasing(seqs)).toBe(true);
    });

    it('returns a position for each target in order', async () => {
      const reservation = await sequencer.reserve(request('c-1'));

      expect(reservation.conv).toBe(conv);
      expect(reservation.ts).toBe(1_000);
      expect(reservation.positions.map((position) => position.user)).toEqual([alice, bob]);
    });

    it('returns the earlier reservation on retry', async () => {
      const first = await sequencer.reserve(request('c-1', { now: 1_000 }));
      await sequencer.reserve(request('c-2', { now: 1_500 }));

      const retry = await sequencer.reserve(request('c-1', { now: 2_000 }));

      expect(first.existing).toBe(false);
      expect(retry).toEqual({ ...first, existing: true });
    });

    it('rejects a client id reused in another conversation', async () => {
      const carol = uniqueId('carol');
      const other = buildDirectConversationId(alice, carol);
      await store.ensureDirectConversation(other, [alice, carol], 1_000);
      await sequencer.reserve(request('c-1'));

      const reuse = sequencer.reserve(request('c-1', { conv: other, targets: [alice, carol] }));

      await expect(reuse).rejects.toBeInstanceOf(ConflictError);
      await expect(reuse).rejects.toMatchObject({ code: ErrorCode.IdConflict });
    });

    it('keeps stream positions increasing', async () => {
      const positions: number[] = [];
      for (let index = 0; index < 4; index += 1) {
        const reservation = await sequencer.reserve(request(`c-${index}`));
        positions.push(reservation.positions.find((position) => position.user === alice)!.pos);
        const [taken] = await sequencer.nextPositions([alice]);
        positions.push(taken!.pos);
      }

      expect(isStrictlyIncreasing(positions)).toBe(true);
      expect(await sequencer.streamHead(alice)).toBe(positions.at(-1));
    });

    it('gives each user one new position', async () => {
      const before = await sequencer.nextPositions([alice]);
      const taken = await sequencer.nextPositions([alice, bob]);

      expect(taken.map((position) => position.user)).toEqual([alice, bob]);
      expect(taken[0]!.pos).toBeGreaterThan(before[0]!.pos);
      expect(await sequencer.streamHead(bob)).toBe(taken[1]!.pos);
    });

    it('reports stream head 0 for a user without positions', async () => {
      expect(await sequencer.streamHead(uniqueId('nobody'))).toBe(0);
    });

    it('re-seeds above what the store already holds', async () => {
      await store.applyRecords([
        buildMessage(conv, 100, bob, [
          { user: alice, pos: 40 },
          { user: bob, pos: 70 },
        ]),
      ]);

      const reservation = await sequencer.reserve(request('c-1', { targets: [alice] }));
      const [bobPosition] = await sequencer.nextPositions([bob]);

      expect(reservation.seq).toBeGreaterThan(100);
      expect(reservation.positions[0]!.pos).toBeGreaterThan(40);
      expect(bobPosition!.pos).toBeGreaterThan(70);
    });
  });
}
