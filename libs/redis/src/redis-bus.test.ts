import { createServer } from 'node:net';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnavailableError, type DeliveryBatch, type NodeInfo } from '@switchboard/core';
import { runBusContract, uniqueId, waitFor } from '@switchboard/core/testing';
import { RedisBus, type RedisBusOptions } from './redis-bus.ts';
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

function buildNode(id: string): NodeInfo {
  return { id, url: `ws://127.0.0.1:9000/ws?node=${id}`, weight: 1, startedAt: 1_700_000_000_000 };
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

/** Returns the CLIENT LIST fields of the connection named `name`, or null when there is none. */
async function findClient(admin: Redis, name: string): Promise<Map<string, string> | null> {
  const list = (await admin.client('LIST')) as string;
  for (const line of list.split('\n')) {
    const fields = new Map(
      line
        .trim()
        .split(' ')
        .map((pair) => pair.split('=', 2) as [string, string]),
    );
    if (fields.get('name') === name) return fields;
  }
  return null;
}

describe.skipIf(!reachable)(`Redis bus on ${REDIS_URL}`, () => {
  runBusContract('RedisBus', async () => {
    const keyPrefix = buildTestPrefix();
    const options: RedisBusOptions = { url: REDIS_URL, keyPrefix, sweepIntervalMs: 100 };
    const bus = await RedisBus.connect(options);
    const peer = await RedisBus.connect(options);
    return {
      bus,
      peer,
      async close() {
        await Promise.all([bus.close(), peer.close()]);
        const admin = await openAdmin();
        await deleteKeys(admin, keyPrefix);
        await admin.quit();
      },
    };
  });

  describe('RedisBus', () => {
    let prefix: string;
    let admin: Redis;
    let opened: RedisBus[];

    const open = async (options: Partial<RedisBusOptions> = {}): Promise<RedisBus> => {
      const bus = await RedisBus.connect({
        url: REDIS_URL,
        keyPrefix: prefix,
        sweepIntervalMs: 100,
        ...options,
      });
      opened.push(bus);
      return bus;
    };

    beforeEach(async () => {
      prefix = buildTestPrefix();
      admin = await openAdmin();
      opened = [];
    });

    afterEach(async () => {
      await Promise.all(opened.map((bus) => bus.close()));
      await deleteKeys(admin, prefix);
      await admin.quit();
    });

    it('announces the expiry of a dead node to another process', async () => {
      const dying = await open();
      const observer = await open();
      let notices = 0;
      observer.onMembershipChange(() => {
        notices += 1;
      });

      await dying.heartbeat(buildNode('node-a'), 300);
      await waitFor(() => notices >= 1, 'the join notice');
      expect((await observer.members()).map((node) => node.id)).toEqual(['node-a']);
      await dying.close();

      await waitFor(() => notices >= 2, 'the expiry notice');
      expect(await observer.members()).toEqual([]);
    });

    it('publishes a notice only when the membership changes', async () => {
      const bus = await open();
      const raw = admin.duplicate();
      const notices: string[] = [];
      raw.on('message', (_channel: string, message: string) => notices.push(message));
      await raw.subscribe(`${prefix}members:changed`);

      await bus.heartbeat(buildNode('node-a'), 10_000);
      await bus.heartbeat(buildNode('node-a'), 10_000);
      await bus.heartbeat({ ...buildNode('node-a'), weight: 3 }, 10_000);
      await bus.heartbeat({ ...buildNode('node-a'), weight: 3 }, 10_000);
      await bus.leave('node-a');
      await bus.leave('node-a');

      try {
        await waitFor(() => notices.includes('leave node-a'), 'the leave notice');
        expect(notices).toEqual(['join node-a', 'update node-a', 'leave node-a']);
      } finally {
        await raw.quit();
      }
    });

    it('stores membership under the documented keys', async () => {
      const bus = await open();
      const node = buildNode('node-a');

      await bus.heartbeat(node, 10_000);

      expect((await listKeys(admin, prefix)).sort()).toEqual([
        `${prefix}members:expiry`,
        `${prefix}members:info`,
      ]);
      expect(JSON.parse((await admin.hget(`${prefix}members:info`, 'node-a'))!)).toEqual(node);
      const [time] = await admin.time();
      const expiresAt = Number(await admin.zscore(`${prefix}members:expiry`, 'node-a'));
      expect(expiresAt - Number(time) * 1_000).toBeGreaterThan(8_000);
      expect(expiresAt - Number(time) * 1_000).toBeLessThanOrEqual(11_000);
    });

    it('publishes one message per batch', async () => {
      const bus = await open();
      const raw = admin.duplicate();
      const messages: string[] = [];
      raw.on('message', (_channel: string, message: string) => messages.push(message));
      await raw.subscribe(`${prefix}node:node-a`);
      const batches: DeliveryBatch[] = [
        {
          from: 'node-b',
          deliveries: ['alice', 'bob', 'carol'].map((user) => ({ user, frame: `to ${user}` })),
        },
        { from: 'node-b', deliveries: ['dave', 'erin'].map((user) => ({ user, frame: `to ${user}` })) },
        { from: 'node-b', deliveries: [{ user: 'frank', frame: 'last' }] },
      ];

      for (const batch of batches) await bus.publishToNode('node-a', batch);

      try {
        await waitFor(() => messages.length >= batches.length, 'the three published messages');
        expect(messages.map((message) => JSON.parse(message) as DeliveryBatch)).toEqual(batches);
      } finally {
        await raw.quit();
      }
    });

    it('resumes delivery after its subscriber connection is killed', async () => {
      const name = uniqueId('swb-test-bus');
      const bus = await open({ connectionName: name });
      const peer = await open();
      const received: string[] = [];
      await bus.subscribeNode('node-a', (batch) => received.push(batch.deliveries[0]!.frame));
      const before = await findClient(admin, `${name}-sub`);
      expect(before?.get('sub')).toBe('2');

      expect(await admin.client('KILL', 'ID', before!.get('id')!)).toBe(1);

      // Batches published while the connection is down are lost, so publish until one arrives.
      let sent = 0;
      await waitFor(
        async () => {
          sent += 1;
          await peer.publishToNode('node-a', {
            from: 'node-b',
            deliveries: [{ user: 'alice', frame: `after-${sent}` }],
          });
          return received.length > 0;
        },
        'a batch after the reconnect',
        10_000,
      );
      expect(received[0]).toMatch(/^after-\d+$/);
      const after = await findClient(admin, `${name}-sub`);
      expect(after?.get('id')).not.toBe(before!.get('id'));
      expect(after?.get('sub')).toBe('2');
    });

    it('notifies membership listeners after the subscriber reconnects', async () => {
      const name = uniqueId('swb-test-bus');
      const bus = await open({ connectionName: name });
      const peer = await open();
      let notices = 0;
      bus.onMembershipChange(() => {
        notices += 1;
      });
      const subscriber = await findClient(admin, `${name}-sub`);

      await admin.client('KILL', 'ID', subscriber!.get('id')!);
      await waitFor(() => notices >= 1, 'the notice after the reconnect', 10_000);
      await peer.heartbeat(buildNode('node-a'), 10_000);

      await waitFor(() => notices >= 2, 'the join notice on the restored subscription');
    });

    it('tells resubscribe listeners after a reconnect, not after the first connect', async () => {
      const name = uniqueId('swb-test-bus');
      const bus = await open({ connectionName: name });
      let resubscribes = 0;
      bus.onResubscribed(() => {
        resubscribes += 1;
      });
      // A membership notice after the first connect shows the 'ready' handling has run.
      let notices = 0;
      bus.onMembershipChange(() => {
        notices += 1;
      });
      await bus.heartbeat(buildNode(uniqueId('node')), 10_000);
      await waitFor(() => notices >= 1, 'the join notice');
      expect(resubscribes).toBe(0);

      const subscriber = await findClient(admin, `${name}-sub`);
      await admin.client('KILL', 'ID', subscriber!.get('id')!);

      await waitFor(() => resubscribes === 1, 'the resubscribe notice', 10_000);
    });

    it('delivers to every process subscribed to a node', async () => {
      const first = await open();
      const second = await open();
      const publisher = await open();
      const receivedFirst: string[] = [];
      const receivedSecond: string[] = [];
      await first.subscribeNode('node-a', (batch) => receivedFirst.push(batch.deliveries[0]!.frame));
      await second.subscribeNode('node-a', (batch) => receivedSecond.push(batch.deliveries[0]!.frame));

      await publisher.publishToNode('node-a', {
        from: 'node-b',
        deliveries: [{ user: 'alice', frame: 'hello' }],
      });

      await waitFor(
        () => receivedFirst.length === 1 && receivedSecond.length === 1,
        'the batch in both processes',
      );
      expect(receivedFirst).toEqual(['hello']);
      expect(receivedSecond).toEqual(['hello']);
    });

    it('deletes the entries of a node on leave', async () => {
      const bus = await open();
      await bus.heartbeat(buildNode('node-a'), 10_000);

      await bus.leave('node-a');

      expect(await admin.zscore(`${prefix}members:expiry`, 'node-a')).toBeNull();
      expect(await admin.hget(`${prefix}members:info`, 'node-a')).toBeNull();
    });

    it('rejects calls after close', async () => {
      const bus = await open();
      await bus.close();

      await expect(bus.members()).rejects.toThrow(/closed/);
    });

    it('fails to connect to a closed port with UnavailableError', async () => {
      const port = await findClosedPort();

      const connecting = RedisBus.connect({ url: `redis://127.0.0.1:${port}` });

      await expect(connecting).rejects.toBeInstanceOf(UnavailableError);
      await expect(connecting).rejects.toMatchObject({ cause: expect.any(Error) });
    });
  });
});
