import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PushRegistry, PushSubscription } from '../ports/index.ts';
import { DEFAULT_PUSH_SETTINGS } from '../ports/push.ts';
import { uniqueId } from './wait-for.ts';

export interface PushRegistryFixture {
  registry: PushRegistry;
  close(): Promise<void>;
}

const P256DH = 'BOr6B0ZSqzQhJRsQ9qgGJJzO1xtpoLHQ6tzBbKsxtKBqSBf2FCSWm3AyuLgdHQzh8XHWAL2YRkF8k6c7-rEJL0s';
const AUTH = 'Gd7tQ5EH2cqvJfmLgqaxAg';

function webPush(user: string, id: string, createdAt = 1_700_000_000_000): PushSubscription {
  return {
    kind: 'webpush',
    endpoint: `https://fcm.googleapis.com/fcm/send/${id}`,
    keys: { p256dh: P256DH, auth: AUTH },
    id,
    user,
    createdAt,
  };
}

/** Runs the PushRegistry contract against the registry that `open` returns, one per test. */
export function runPushRegistryContract(name: string, open: () => Promise<PushRegistryFixture>): void {
  describe(`PushRegistry contract: ${name}`, () => {
    let fixture: PushRegistryFixture;
    let registry: PushRegistry;

    beforeEach(async () => {
      fixture = await open();
      registry = fixture.registry;
    });

    afterEach(async () => {
      await fixture.close();
    });

    it('lists nothing for a new user', async () => {
      expect(await registry.listSubscriptions(uniqueId('user'))).toEqual([]);
    });

    it('stores every kind of subscription', async () => {
      const user = uniqueId('user');
      const web = webPush(user, 'w1', 1_000);
      const fcm: PushSubscription = { kind: 'fcm', token: 'fcm-token-1', id: 'f1', user, createdAt: 2_000 };
      const apns: PushSubscription = {
        kind: 'apns',
        token: 'ab'.repeat(32),
        id: 'a1',
        user,
        createdAt: 3_000,
      };
      await registry.addSubscription(web);
      await registry.addSubscription(fcm);
      await registry.addSubscription(apns);

      const listed = await registry.listSubscriptions(user);
      const byId = new Map(listed.map((subscription) => [subscription.id, subscription]));
      expect(listed).toHaveLength(3);
      expect(byId.get('w1')).toEqual(web);
      expect(byId.get('f1')).toEqual(fcm);
      expect(byId.get('a1')).toEqual(apns);
    });

    it('lists subscriptions in registration order', async () => {
      const user = uniqueId('user');
      await registry.addSubscription(webPush(user, 'zz', 1_000));
      await registry.addSubscription(webPush(user, 'aa', 2_000));
      await registry.addSubscription(webPush(user, 'mm', 3_000));
      const listed = await registry.listSubscriptions(user);
      expect(listed.map((subscription) => subscription.id)).toEqual(['zz', 'aa', 'mm']);
    });

    it('replaces a subscription with the same id', async () => {
      const user = uniqueId('user');
      await registry.addSubscription(webPush(user, 's1', 1_000));
      const replacement: PushSubscription = {
        kind: 'fcm',
        token: 'new-token',
        id: 's1',
        user,
        createdAt: 5_000,
      };
      await registry.addSubscription(replacement);
      expect(await registry.listSubscriptions(user)).toEqual([replacement]);
    });

    it('keeps the subscriptions of users apart', async () => {
      const first = uniqueId('user');
      const second = uniqueId('user');
      await registry.addSubscription(webPush(first, 'same'));
      await registry.addSubscription(webPush(second, 'same'));
      expect(await registry.removeSubscription(first, 'same')).toBe(true);
      expect(await registry.listSubscriptions(first)).toEqual([]);
      expect(await registry.listSubscriptions(second)).toEqual([webPush(second, 'same')]);
    });

    it('removes a subscription once', async () => {
      const user = uniqueId('user');
      await registry.addSubscription(webPush(user, 'r1'));
      expect(await registry.removeSubscription(user, 'r1')).toBe(true);
      expect(await registry.removeSubscription(user, 'r1')).toBe(false);
      expect(await registry.listSubscriptions(user)).toEqual([]);
    });

    it('reports removal of an unknown subscription', async () => {
      expect(await registry.removeSubscription(uniqueId('user'), 'missing')).toBe(false);
    });

    it('returns default settings for a new user', async () => {
      expect(await registry.getSettings(uniqueId('user'))).toEqual(DEFAULT_PUSH_SETTINGS);
    });

    it('stores and replaces settings', async () => {
      const user = uniqueId('user');
      const settings = { muted: true, previews: false, mutedConversations: ['d.a.b', 'g.team'] };
      await registry.setSettings(user, settings);
      expect(await registry.getSettings(user)).toEqual(settings);

      const cleared = { muted: false, previews: true, mutedConversations: [] };
      await registry.setSettings(user, cleared);
      expect(await registry.getSettings(user)).toEqual(cleared);
    });

    it('keeps settings of users apart', async () => {
      const first = uniqueId('user');
      const second = uniqueId('user');
      await registry.setSettings(first, { muted: true, previews: true, mutedConversations: ['g.x'] });
      expect(await registry.getSettings(second)).toEqual(DEFAULT_PUSH_SETTINGS);
    });

    it('returns a settings copy that callers may change', async () => {
      const user = uniqueId('user');
      const read = await registry.getSettings(user);
      read.mutedConversations.push('g.changed');
      expect((await registry.getSettings(user)).mutedConversations).toEqual([]);
    });
  });
}
