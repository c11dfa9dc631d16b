import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { InProcessBus } from '@switchboard/embedded';
import { buildRing } from '@switchboard/ring';
import { ConfigError } from './errors.ts';
import {
  computeMembershipExpiryBound,
  MEMBERSHIP_EXPIRY_BOUND_MS,
  MembershipView,
  NodeHeartbeat,
  type RingChange,
} from './membership.ts';
import type {
  Bus,
  ClusterEvent,
  DeliveryBatch,
  NodeInfo,
  PresenceChange,
  PresenceDevice,
  PresenceState,
  Unsubscribe,
} from './ports/bus.ts';

// Timers fire late on a loaded machine, so the bounds below allow this much on top.
const TIMER_SLACK_MS = 300;

function makeNode(index: number, weight = 1): NodeInfo {
  return {
    id: `node-${index}`,
    url: `ws://127.0.0.1:${9000 + index}/ws`,
    weight,
    startedAt: 1_700_000_000_000 + index,
  };
}

async function waitFor(condition: () => boolean, timeoutMs: number, message: string): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects the JSON lines of a pino logger. */
function captureLogger(): { logger: pino.Logger; entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      entries.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), entries };
}

/** A real InProcessBus whose next `failHeartbeats` heartbeats and `failMembers` reads fail. */
class FailingBus implements Bus {
  readonly inner: InProcessBus;
  failHeartbeats = 0;
  failMembers = 0;

  constructor(inner: InProcessBus) {
    this.inner = inner;
  }

  async heartbeat(node: NodeInfo, ttlMs: number): Promise<boolean> {
    if (this.failHeartbeats > 0) {
      this.failHeartbeats--;
      throw new Error('bus unreachable');
    }
    return this.inner.heartbeat(node, ttlMs);
  }

  leave(nodeId: string): Promise<void> {
    return this.inner.leave(nodeId);
  }

  async members(): Promise<NodeInfo[]> {
    if (this.failMembers > 0) {
      this.failMembers--;
      throw new Error('bus unreachable');
    }
    return this.inner.members();
  }

  onMembershipChange(listener: () => void): () => void {
    return this.inner.onMembershipChange(listener);
  }

  onResubscribed(listener: () => void): () => void {
    return this.inner.onResubscribed(listener);
  }

  subscribeNode(nodeId: string, handler: (batch: DeliveryBatch) => void): Promise<Unsubscribe> {
    return this.inner.subscribeNode(nodeId, handler);
  }

  publishToNode(nodeId: string, batch: DeliveryBatch): Promise<void> {
    return this.inner.publishToNode(nodeId, batch);
  }

  publishEvent(event: ClusterEvent): Promise<void> {
    return this.inner.publishEvent(event);
  }

  subscribeEvents(handler: (event: ClusterEvent) => void): Promise<Unsubscribe> {
    return this.inner.subscribeEvents(handler);
  }

  refreshPresence(devices: PresenceDevice[], ttlMs: number): Promise<void> {
    return this.inner.refreshPresence(devices, ttlMs);
  }

  removePresence(devices: PresenceDevice[]): Promise<void> {
    return this.inner.removePresence(devices);
  }

  readPresence(users: string[]): Promise<PresenceState[]> {
    return this.inner.readPresence(users);
  }

  onPresenceChange(listener: (changes: PresenceChange[]) => void): () => void {
    return this.inner.onPresenceChange(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startBus(sweepIntervalMs = 20): InProcessBus {
  const bus = new InProcessBus({ sweepIntervalMs });
  cleanups.push(() => bus.close());
  return bus;
}

async function startView(bus: Bus, refreshMs = 50): Promise<MembershipView> {
  const view = new MembershipView({ bus, refreshMs });
  cleanups.push(() => view.stop());
  await view.start();
  return view;
}

async function startHeartbeat(
  bus: Bus,
  node: NodeInfo,
  timing: { intervalMs?: number; ttlMs?: number } = { intervalMs: 50, ttlMs: 200 },
): Promise<NodeHeartbeat> {
  const heartbeat = new NodeHeartbeat({ bus, node, ...timing });
  cleanups.push(() => heartbeat.stop());
  await heartbeat.start();
  return heartbeat;
}

describe('MembershipView', () => {
  it('starts with an empty ring', async () => {
    const view = await startView(startBus());

    expect(view.members).toEqual([]);
    expect(view.ring.size).toBe(0);
    expect(view.ownerOf('alice')).toBeNull();
  });

  it('adds a joining node', async () => {
    const bus = startBus();
    const view = await startView(bus);
    const node = makeNode(1);

    await startHeartbeat(bus, node);
    await waitFor(() => view.ring.size === 1, 2000, 'node-1 never joined the ring');

    expect(view.members).toEqual([node]);
    expect(view.ring.nodes).toEqual(['node-1']);
    expect(view.ownerOf('alice')).toEqual(node);
  });

  it('emits change with the previous and current ring', async () => {
    const bus = startBus();
    const view = await startView(bus);
    const changes: RingChange[] = [];
    view.onChange((change) => changes.push(change));
    const emptyVersion = view.ringVersion;

    await bus.heartbeat(makeNode(1), 10_000);
    await waitFor(() => changes.length === 1, 2000, 'no change event after node-1 joined');
    await bus.heartbeat(makeNode(2), 10_000);
    await waitFor(() => changes.length === 2, 2000, 'no change event after node-2 joined');

    const [first, second] = changes;
    expect(first!.previous.version).toBe(emptyVersion);
    expect(first!.current.nodes).toEqual(['node-1']);
    expect(second!.previous.version).toBe(first!.current.version);
    expect(second!.current.version).not.toBe(second!.previous.version);
    expect(second!.current.nodes).toEqual(['node-1', 'node-2']);
    expect(view.ring).toBe(second!.current);
  });

  it('keeps the same ring while heartbeats change nothing', async () => {
    const bus = startBus();
    const view = await startView(bus);
    const changes: RingChange[] = [];
    await startHeartbeat(bus, makeNode(1));
    await waitFor(() => view.ring.size === 1, 2000, 'node-1 never joined the ring');
    const ring = view.ring;
    view.onChange((change) => changes.push(change));

    // Several heartbeats and refreshes pass.
    await sleep(300);

    expect(view.ring).toBe(ring);
    expect(changes).toEqual([]);
  });

  it('drops a silent node within the bound', async () => {
    const timing = { intervalMs: 50, ttlMs: 200, sweepIntervalMs: 20, refreshMs: 50 };
    const bus = startBus(timing.sweepIntervalMs);
    const view = await startView(bus, timing.refreshMs);
    await startHeartbeat(bus, makeNode(1), timing);
    const dying = await startHeartbeat(bus, makeNode(2), timing);
    await waitFor(() => view.ring.size === 2, 2000, 'the nodes never joined the ring');

    await dying.stop();
    const bound = computeMembershipExpiryBound(timing);
    const elapsed = await waitFor(
      () => !view.ring.nodes.includes('node-2'),
      bound + 2000,
      'node-2 stayed in the ring after its heartbeat stopped',
    );

    // The last heartbeat was at most one interval before the stop, so the entry lives at
    // least ttlMs - intervalMs after it.
    expect(elapsed).toBeGreaterThanOrEqual(timing.ttlMs - timing.intervalMs - 20);
    expect(elapsed).toBeLessThanOrEqual(bound + TIMER_SLACK_MS);
    expect(view.ring.nodes).toEqual(['node-1']);
  });

  it('meets MEMBERSHIP_EXPIRY_BOUND_MS with defaults', async () => {
    const bus = new InProcessBus();
    cleanups.push(() => bus.close());
    const view = new MembershipView({ bus });
    cleanups.push(() => view.stop());
    await view.start();
    const heartbeat = new NodeHeartbeat({ bus, node: makeNode(1) });
    await heartbeat.start();
    await waitFor(() => view.ring.size === 1, 2000, 'node-1 never joined the ring');

    await heartbeat.stop();
    const elapsed = await waitFor(
      () => view.ring.size === 0,
      MEMBERSHIP_EXPIRY_BOUND_MS + 2000,
      'node-1 stayed in the ring after its heartbeat stopped',
    );

    expect(MEMBERSHIP_EXPIRY_BOUND_MS).toBe(4250);
    expect(elapsed).toBeLessThanOrEqual(MEMBERSHIP_EXPIRY_BOUND_MS + TIMER_SLACK_MS);
  });

  it('sees an expiry without a change notice', async () => {
    // A sweep interval of a minute keeps the bus from noticing the expiry on its own, so
    // only the view's periodic read finds it.
    const bus = startBus(60_000);
    const view = await startView(bus, 50);
    const heartbeat = await startHeartbeat(bus, makeNode(1), { intervalMs: 50, ttlMs: 200 });
    await waitFor(() => view.ring.size === 1, 2000, 'node-1 never joined the ring');

    await heartbeat.stop();
    const elapsed = await waitFor(
      () => view.ring.size === 0,
      3000,
      'node-1 stayed in the ring without a notice',
    );

    expect(elapsed).toBeLessThanOrEqual(200 + 50 + TIMER_SLACK_MS);
  });

  it('removes a node at once when it leaves', async () => {
    const bus = startBus();
    const view = await startView(bus);
    const heartbeat = await startHeartbeat(bus, makeNode(1), { intervalMs: 1000, ttlMs: 60_000 });
    await waitFor(() => view.ring.size === 1, 2000, 'node-1 never joined the ring');

    await heartbeat.stop({ leave: true });
    await waitFor(() => view.ring.size === 0, 1000, 'node-1 stayed in the ring after leaving');

    expect(await bus.members()).toEqual([]);
  });

  it('agrees on owners across views', async () => {
    const bus = startBus();
    for (let i = 1; i <= 4; i++) await bus.heartbeat(makeNode(i, i === 2 ? 2 : 1), 60_000);
    const first = await startView(bus);
    const second = await startView(bus);
    const expected = buildRing([4, 3, 2, 1].map((i) => makeNode(i, i === 2 ? 2 : 1)));

    expect(first.ringVersion).toBe(expected.version);
    expect(second.ringVersion).toBe(expected.version);
    for (let i = 0; i < 1000; i++) {
      const userId = `user-${i}`;
      const owner = first.ownerOf(userId);
      expect(owner?.id, userId).toBe(expected.ownerOf(userId));
      expect(second.ownerOf(userId), userId).toEqual(owner);
      expect(first.ownerOf(userId), userId).toBe(owner);
    }
  });

  it('keeps the ring while reads fail', async () => {
    const bus = new FailingBus(startBus());
    await bus.heartbeat(makeNode(1), 60_000);
    const view = await startView(bus, 30);
    const ring = view.ring;

    bus.failMembers = 5;
    await waitFor(() => bus.failMembers === 0, 2000, 'the view stopped reading the members');

    expect(view.ring).toBe(ring);
    expect(view.ownerOf('alice')?.id).toBe('node-1');
  });

  it('rejects start when the first read fails', async () => {
    const bus = new FailingBus(startBus());
    bus.failMembers = 1;
    const view = new MembershipView({ bus, refreshMs: 30 });

    await expect(view.start()).rejects.toThrow('bus unreachable');
  });

  it('rejects a zero refreshMs', () => {
    expect(() => new MembershipView({ bus: startBus(), refreshMs: 0 })).toThrow(ConfigError);
  });
});

describe('NodeHeartbeat', () => {
  it('keeps heartbeating after a failed heartbeat', async () => {
    const bus = new FailingBus(startBus());
    const { logger, entries } = captureLogger();
    bus.failHeartbeats = 2;
    const heartbeat = new NodeHeartbeat({
      bus,
      node: makeNode(1),
      intervalMs: 30,
      ttlMs: 200,
      logger,
    });
    cleanups.push(() => heartbeat.stop());

    await heartbeat.start();
    await waitFor(
      () => entries.some((entry) => entry.msg === 'heartbeat recovered'),
      2000,
      'the heartbeat never recovered',
    );

    const warnings = entries.filter((entry) => entry.level === 40);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]!.node).toBe('node-1');
    expect(warnings[1]!.failures).toBe(2);
    expect((await bus.members()).map((node) => node.id)).toEqual(['node-1']);
  });

  it('reports a rejoin once its entry expired while heartbeats failed', async () => {
    const bus = new FailingBus(startBus());
    const heartbeat = new NodeHeartbeat({ bus, node: makeNode(1), intervalMs: 30, ttlMs: 100 });
    cleanups.push(() => heartbeat.stop());
    let rejoins = 0;
    heartbeat.onRejoin(() => rejoins++);

    await heartbeat.start();
    await sleep(150);
    expect(rejoins).toBe(0);

    // Ten failed heartbeats span 300 ms, three times the TTL.
    bus.failHeartbeats = 10;
    await waitFor(() => rejoins === 1, 2000, 'no rejoin after the entry expired');
    await sleep(150);
    expect(rejoins).toBe(1);
  });

  it('announces the node before start resolves', async () => {
    const bus = startBus();

    await startHeartbeat(bus, makeNode(1), { intervalMs: 1000, ttlMs: 3000 });

    expect(await bus.members()).toEqual([makeNode(1)]);
  });

  it.each([
    ['a ttlMs not above intervalMs', { intervalMs: 1000, ttlMs: 1000 }, makeNode(1)],
    ['a zero intervalMs', { intervalMs: 0, ttlMs: 1000 }, makeNode(1)],
    ['a malformed node id', {}, { ...makeNode(1), id: 'bad id' }],
    ['a zero weight', {}, { ...makeNode(1), weight: 0 }],
  ])('rejects %s', (_case, timing, node) => {
    expect(() => new NodeHeartbeat({ bus: startBus(), node, ...timing })).toThrow(ConfigError);
  });
});
