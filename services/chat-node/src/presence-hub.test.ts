import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@switchboard/core';
import { waitFor } from '@switchboard/core/testing';
import { InProcessBus } from '@switchboard/embedded';
import type { PresenceFrame } from '@switchboard/protocol';
import { PresenceHub } from './presence-hub.ts';

const INTERVAL_MS = 100;

interface FakeSocket {
  name: string;
}

describe('PresenceHub', () => {
  let bus: InProcessBus;
  let hub: PresenceHub<FakeSocket>;
  let frames: Array<{ socket: string; frame: PresenceFrame }>;
  let blockers: Map<string, Set<string>>;

  beforeEach(() => {
    bus = new InProcessBus({ sweepIntervalMs: 20 });
    frames = [];
    blockers = new Map();
    hub = new PresenceHub<FakeSocket>({
      bus,
      logger: createLogger('test', { level: 'silent' }),
      ttlMs: 300,
      intervalMs: INTERVAL_MS,
      devices: () => [],
      send: (socket, frame) => frames.push({ socket: socket.name, frame }),
      blockersOf: async (user) => blockers.get(user) ?? new Set(),
    });
    hub.start();
  });

  afterEach(async () => {
    hub.stop();
    await bus.close();
  });

  it('sends the current presence on subscribe', async () => {
    await bus.refreshPresence([{ user: 'alice', device: 'd1' }], 10_000);

    await hub.subscribe({ name: 'watcher' }, 'carol', ['alice', 'bob']);

    expect(frames).toEqual([
      {
        socket: 'watcher',
        frame: {
          type: 'presence',
          users: [
            { user: 'alice', online: true },
            { user: 'bob', online: false },
          ],
        },
      },
    ]);
  });

  it('coalesces a burst of changes into one frame per subscriber per interval', async () => {
    const users = Array.from({ length: 50 }, (_, index) => `user-${index}`);
    const first = { name: 'first' };
    const second = { name: 'second' };
    await hub.subscribe(first, 'carol', users);
    await hub.subscribe(second, 'dave', users.slice(0, 10));
    frames.length = 0;

    await bus.refreshPresence(
      users.map((user) => ({ user, device: 'd' })),
      10_000,
    );
    await bus.removePresence(users.map((user) => ({ user, device: 'd' })));
    await waitFor(() => frames.length >= 2, 'one frame per subscriber');
    await sleep(INTERVAL_MS * 2);

    expect(frames.map((entry) => entry.socket).sort()).toEqual(['first', 'second']);
    const toFirst = frames.find((entry) => entry.socket === 'first')!.frame;
    expect(toFirst.users).toHaveLength(50);
    expect(toFirst.users.every((entry) => !entry.online && entry.lastSeen !== undefined)).toBe(true);
    expect(frames.find((entry) => entry.socket === 'second')!.frame.users).toHaveLength(10);
  });

  it('hides the presence of a user who blocks the subscriber', async () => {
    blockers.set('carol', new Set(['alice']));
    await bus.refreshPresence([{ user: 'alice', device: 'd1' }], 10_000);

    await hub.subscribe({ name: 'watcher' }, 'carol', ['alice']);
    await bus.removePresence([{ user: 'alice', device: 'd1' }]);
    await sleep(INTERVAL_MS * 3);

    expect(frames.flatMap((entry) => entry.frame.users)).toEqual([
      { user: 'alice', online: false },
      { user: 'alice', online: false },
    ]);
  });

  it('stops sending to a subscriber that unsubscribed', async () => {
    const socket = { name: 'watcher' };
    await hub.subscribe(socket, 'carol', ['alice']);
    await hub.subscribe(socket, 'carol', []);
    frames.length = 0;

    await bus.refreshPresence([{ user: 'alice', device: 'd1' }], 10_000);
    await sleep(INTERVAL_MS * 3);

    expect(frames).toEqual([]);
  });
});
