import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus, ClusterEvent, DeliveryBatch, NodeInfo, PresenceChange } from '../ports/index.ts';
import { uniqueId, waitFor } from './wait-for.ts';

export interface BusFixture {
  bus: Bus;
  /** A second connection to the same bus, as another process would hold; defaults to `bus`. */
  peer?: Bus;
  close(): Promise<void>;
}

function buildNode(id: string): NodeInfo {
  return { id, url: `ws://127.0.0.1:9000/ws?node=${id}`, weight: 1, startedAt: 1_700_000_000_000 };
}

function buildBatch(from: string, user: string, frame: string): DeliveryBatch {
  return { from, deliveries: [{ user, frame }] };
}

/**
 * Declares the behaviour every Bus adapter must have.
 *
 * Node ids carry a random suffix and membership checks look only at this test's nodes, so
 * the suite can run against a bus server that other runs share.
 */
export function runBusContract(name: string, open: () => Promise<BusFixture>): void {
  describe(`${name} bus contract`, () => {
    let fixture: BusFixture;
    let bus: Bus;
    let peer: Bus;
    let prefix: string;

    const ownMembers = async (from: Bus): Promise<string[]> =>
      (await from.members()).map((node) => node.id).filter((id) => id.startsWith(prefix));

    beforeEach(async () => {
      fixture = await open();
      bus = fixture.bus;
      peer = fixture.peer ?? fixture.bus;
      prefix = uniqueId('node');
    });

    afterEach(async () => {
      await fixture.close();
    });

    it('lists heartbeating members sorted by id', async () => {
      const second = buildNode(`${prefix}-b`);
      const first = { ...buildNode(`${prefix}-a`), weight: 2 };
      await bus.heartbeat(second, 10_000);
      await bus.heartbeat(first, 10_000);

      const members = (await peer.members()).filter((node) => node.id.startsWith(prefix));
      expect(members).toEqual([first, second]);
    });

    it('reports joins but not refreshes', async () => {
      const node = buildNode(`${prefix}-a`);
      expect(await bus.heartbeat(node, 200)).toBe(true);
      expect(await bus.heartbeat(node, 200)).toBe(false);

      await waitFor(async () => (await ownMembers(peer)).length === 0, 'the member to expire');
      expect(await bus.heartbeat(node, 200)).toBe(true);
    });

    it('drops a member whose heartbeat expires', async () => {
      await bus.heartbeat(buildNode(`${prefix}-a`), 200);
      expect(await ownMembers(peer)).toEqual([`${prefix}-a`]);

      await waitFor(async () => (await ownMembers(peer)).length === 0, 'the member to expire');
    });

    it('keeps a member that keeps heartbeating', async () => {
      const node = buildNode(`${prefix}-a`);
      for (let beat = 0; beat < 6; beat += 1) {
        await bus.heartbeat(node, 400);
        await sleep(100);
      }

      expect(await ownMembers(peer)).toEqual([node.id]);
    });

    it('removes a member at once on leave', async () => {
      await bus.heartbeat(buildNode(`${prefix}-a`), 10_000);
      await bus.heartbeat(buildNode(`${prefix}-b`), 10_000);

      await bus.leave(`${prefix}-a`);

      expect(await ownMembers(peer)).toEqual([`${prefix}-b`]);
    });

    it('notifies listeners of join, leave and expiry', async () => {
      let notices = 0;
      const remove = peer.onMembershipChange(() => {
        notices += 1;
      });

      await bus.heartbeat(buildNode(`${prefix}-a`), 10_000);
      await waitFor(() => notices >= 1, 'a notice after the join');

      await bus.leave(`${prefix}-a`);
      await waitFor(() => notices >= 2, 'a notice after the leave');

      await bus.heartbeat(buildNode(`${prefix}-b`), 1_000);
      await waitFor(() => notices >= 3, 'a notice after the second join');
      await waitFor(() => notices >= 4, 'a notice after the expiry');
      expect(await ownMembers(peer)).toEqual([]);
      remove();
    });

    it('stops notifying a removed listener', async () => {
      let removedNotices = 0;
      let keptNotices = 0;
      const remove = peer.onMembershipChange(() => {
        removedNotices += 1;
      });
      const removeKept = peer.onMembershipChange(() => {
        keptNotices += 1;
      });
      remove();

      await bus.heartbeat(buildNode(`${prefix}-a`), 10_000);
      await waitFor(() => keptNotices >= 1, 'the kept listener to be notified');

      expect(removedNotices).toBe(0);
      removeKept();
    });

    it('delivers a batch to the subscribed node', async () => {
      const received: DeliveryBatch[] = [];
      await bus.subscribeNode(`${prefix}-a`, (batch) => received.push(batch));

      const batch = buildBatch(`${prefix}-b`, 'alice', '{"type":"ping"}');
      await peer.publishToNode(`${prefix}-a`, batch);

      await waitFor(() => received.length === 1, 'the batch to arrive');
      expect(received[0]).toEqual(batch);
    });

    it('delivers batches to one node in publish order', async () => {
      const received: string[] = [];
      await bus.subscribeNode(`${prefix}-a`, (batch) => received.push(batch.deliveries[0]!.frame));

      const frames = Array.from({ length: 20 }, (_, index) => `frame-${index}`);
      for (const frame of frames) await peer.publishToNode(`${prefix}-a`, buildBatch('x', 'alice', frame));

      await waitFor(() => received.length === frames.length, 'all batches to arrive');
      expect(received).toEqual(frames);
    });

    it('drops a batch published while no node is subscribed', async () => {
      await peer.publishToNode(`${prefix}-a`, buildBatch('x', 'alice', 'lost'));

      const received: string[] = [];
      await bus.subscribeNode(`${prefix}-a`, (batch) => received.push(batch.deliveries[0]!.frame));
      await peer.publishToNode(`${prefix}-a`, buildBatch('x', 'alice', 'kept'));

      await waitFor(() => received.length >= 1, 'the second batch to arrive');
      expect(received).toEqual(['kept']);
    });

    it('delivers only to the node named in the publish', async () => {
      const receivedA: string[] = [];
      const receivedB: string[] = [];
      await bus.subscribeNode(`${prefix}-a`, (batch) => receivedA.push(batch.deliveries[0]!.frame));
      await bus.subscribeNode(`${prefix}-b`, (batch) => receivedB.push(batch.deliveries[0]!.frame));

      await peer.publishToNode(`${prefix}-a`, buildBatch('x', 'alice', 'for-a'));
      await peer.publishToNode(`${prefix}-b`, buildBatch('x', 'bob', 'for-b'));

      await waitFor(() => receivedA.length >= 1 && receivedB.length >= 1, 'both batches to arrive');
      expect(receivedA).toEqual(['for-a']);
      expect(receivedB).toEqual(['for-b']);
    });

    it('stops delivery after unsubscribe', async () => {
      const removed: string[] = [];
      const kept: string[] = [];
      const unsubscribe = await bus.subscribeNode(`${prefix}-a`, (batch) =>
        removed.push(batch.deliveries[0]!.frame),
      );
      await unsubscribe();
      await bus.subscribeNode(`${prefix}-a`, (batch) => kept.push(batch.deliveries[0]!.frame));

      await peer.publishToNode(`${prefix}-a`, buildBatch('x', 'alice', 'after'));

      await waitFor(() => kept.length === 1, 'the batch to reach the remaining subscriber');
      expect(removed).toEqual([]);
    });

    describe('events', () => {
      it('delivers an event to every subscriber, the publisher included', async () => {
        const conv = `g.${uniqueId('group')}`;
        const mine: ClusterEvent[] = [];
        const theirs: ClusterEvent[] = [];
        await bus.subscribeEvents((event) => mine.push(event));
        await peer.subscribeEvents((event) => theirs.push(event));
        const event: ClusterEvent = { kind: 'conversation-changed', conv };

        await bus.publishEvent(event);

        const isOurs = (received: ClusterEvent) => received.kind === event.kind && received.conv === conv;
        await waitFor(() => mine.some(isOurs) && theirs.some(isOurs), 'the event in both subscribers');
        expect(mine.filter(isOurs)).toEqual([event]);
        expect(theirs.filter(isOurs)).toEqual([event]);
      });

      it('stops delivering events after unsubscribe', async () => {
        const conv = `g.${uniqueId('group')}`;
        const removed: ClusterEvent[] = [];
        const kept: ClusterEvent[] = [];
        const unsubscribe = await peer.subscribeEvents((event) => removed.push(event));
        await peer.subscribeEvents((event) => kept.push(event));
        await unsubscribe();

        await bus.publishEvent({ kind: 'channel-advanced', conv, seq: 7 });

        await waitFor(() => kept.some((event) => event.kind === 'channel-advanced'), 'the kept subscriber');
        expect(removed).toEqual([]);
      });
    });

    describe('presence', () => {
      const changesOf = (changes: PresenceChange[], user: string) =>
        changes.filter((change) => change.user === user).map((change) => change.online);

      it('shows a user online while any device is live', async () => {
        const user = uniqueId('user');
        await bus.refreshPresence(
          [
            { user, device: 'phone' },
            { user, device: 'laptop' },
          ],
          10_000,
        );
        const [online] = await peer.readPresence([user]);

        await bus.removePresence([{ user, device: 'phone' }]);
        const [oneLeft] = await peer.readPresence([user]);
        const before = Date.now();
        await bus.removePresence([{ user, device: 'laptop' }]);
        const [offline] = await peer.readPresence([user]);

        expect(online).toEqual({ user, online: true, lastSeen: null });
        expect(oneLeft?.online).toBe(true);
        expect(offline?.online).toBe(false);
        // The bus clock may differ from this process's clock by a little.
        expect(offline?.lastSeen).toBeGreaterThan(before - 2_000);
      });

      it('reads an unknown user as offline without a last seen time', async () => {
        const user = uniqueId('nobody');
        expect(await peer.readPresence([user])).toEqual([{ user, online: false, lastSeen: null }]);
      });

      it('announces each transition once to listeners elsewhere', async () => {
        const user = uniqueId('user');
        const changes: PresenceChange[] = [];
        const remove = peer.onPresenceChange((batch) => changes.push(...batch));
        try {
          // A listener's subscription may take a moment to reach a networked bus.
          await sleep(200);
          await bus.refreshPresence([{ user, device: 'phone' }], 10_000);
          await bus.refreshPresence([{ user, device: 'phone' }], 10_000);
          await bus.refreshPresence([{ user, device: 'laptop' }], 10_000);
          await waitFor(() => changesOf(changes, user).length >= 1, 'the online change');
          await bus.removePresence([{ user, device: 'phone' }]);
          await bus.removePresence([{ user, device: 'laptop' }]);
          await waitFor(() => changesOf(changes, user).length >= 2, 'the offline change');
          await sleep(200);

          expect(changesOf(changes, user)).toEqual([true, false]);
        } finally {
          remove();
        }
      });

      it('takes a user offline when their device stops refreshing', async () => {
        const user = uniqueId('user');
        const changes: PresenceChange[] = [];
        const remove = peer.onPresenceChange((batch) => changes.push(...batch));
        try {
          await sleep(200);
          await bus.refreshPresence([{ user, device: 'phone' }], 300);
          expect((await peer.readPresence([user]))[0]?.online).toBe(true);

          await waitFor(() => changesOf(changes, user).includes(false), 'the expiry to be announced');
          const [state] = await peer.readPresence([user]);
          expect(state?.online).toBe(false);
          expect(state?.lastSeen).not.toBeNull();
        } finally {
          remove();
        }
      });

      it('reads several users in the order given', async () => {
        const online = uniqueId('online');
        const offline = uniqueId('offline');
        await bus.refreshPresence([{ user: online, device: 'd1' }], 10_000);

        const states = await peer.readPresence([offline, online]);

        expect(states.map((state) => [state.user, state.online])).toEqual([
          [offline, false],
          [online, true],
        ]);
        await bus.removePresence([{ user: online, device: 'd1' }]);
      });
    });
  });
}
