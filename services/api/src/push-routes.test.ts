import { createECDH, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildDirectConversationId, ErrorCode } from '@switchboard/protocol';
import { DEFAULT_PUSH_SETTINGS } from '@switchboard/core';
import type { AuthSession } from './auth-routes.ts';
import type { PushRoutesConfig } from './push-routes.ts';
import { createTestUser, errorOf, injectAs, startTestApi, type TestApi } from './test-support.ts';

const P256DH = createECDH('prime256v1').generateKeys().toString('base64url');
const AUTH = randomBytes(16).toString('base64url');
const ENDPOINT = 'https://fcm.googleapis.com/fcm/send/abc123';
const FCM_TOKEN = 'dGVzdC1mY20tdG9rZW4:APA91b' + 'x'.repeat(140);
const APNS_TOKEN = 'ab'.repeat(32);

interface SubscriptionView {
  id: string;
  kind: string;
  endpoint?: string;
  token?: string;
  createdAt: number;
}

describe('push routes', () => {
  let api: TestApi;
  let alice: AuthSession;
  let bob: AuthSession;

  async function start(push: Partial<PushRoutesConfig> = {}): Promise<void> {
    api = await startTestApi({ push });
    alice = await createTestUser(api, 'alice');
    bob = await createTestUser(api, 'bob');
  }

  afterEach(async () => {
    await api.close();
  });

  function subscribe(session: AuthSession, payload: unknown) {
    return injectAs(api.app, session.accessToken, {
      method: 'POST',
      url: '/v1/push/subscriptions',
      payload: payload as object,
    });
  }

  async function list(session: AuthSession): Promise<SubscriptionView[]> {
    const response = await injectAs(api.app, session.accessToken, {
      method: 'GET',
      url: '/v1/push/subscriptions',
    });
    expect(response.statusCode).toBe(200);
    return response.json<{ subscriptions: SubscriptionView[] }>().subscriptions;
  }

  const webPush = (endpoint = ENDPOINT, keys: object = { p256dh: P256DH, auth: AUTH }) => ({
    kind: 'webpush',
    endpoint,
    keys,
  });

  describe('config', () => {
    it('reports every service off by default', async () => {
      await start();
      const response = await injectAs(api.app, alice.accessToken, { method: 'GET', url: '/v1/push/config' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ webPush: null, fcm: false, apns: false });
    });

    it('reports the VAPID key and enabled services', async () => {
      await start({ vapidPublicKey: P256DH, fcm: true, apns: true });
      const response = await injectAs(api.app, alice.accessToken, { method: 'GET', url: '/v1/push/config' });
      expect(response.json()).toEqual({ webPush: { vapidPublicKey: P256DH }, fcm: true, apns: true });
    });

    it('rejects a request without a token', async () => {
      await start();
      const response = await api.app.inject({ method: 'GET', url: '/v1/push/config' });
      expect(response.statusCode).toBe(401);
      expect(errorOf(response).code).toBe(ErrorCode.AuthTokenMissing);
    });
  });

  describe('subscriptions', () => {
    beforeEach(async () => {
      await start({ maxSubscriptions: 3 });
    });

    it('registers a Web Push subscription', async () => {
      const response = await subscribe(alice, webPush());
      expect(response.statusCode).toBe(201);
      const view = response.json<SubscriptionView>();
      expect(view.kind).toBe('webpush');
      expect(view.endpoint).toBe(ENDPOINT);
      expect(view.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(view).not.toHaveProperty('keys');

      const stored = await api.push.listSubscriptions(alice.user.id);
      expect(stored).toEqual([
        {
          kind: 'webpush',
          endpoint: ENDPOINT,
          keys: { p256dh: P256DH, auth: AUTH },
          id: view.id,
          user: alice.user.id,
          createdAt: view.createdAt,
        },
      ]);
    });

    it('registers FCM and APNs tokens', async () => {
      const fcm = await subscribe(alice, { kind: 'fcm', token: FCM_TOKEN });
      const apns = await subscribe(alice, { kind: 'apns', token: APNS_TOKEN.toUpperCase() });
      expect(fcm.statusCode).toBe(201);
      expect(apns.statusCode).toBe(201);
      expect(fcm.json<SubscriptionView>().token).toBe(FCM_TOKEN);
      expect(apns.json<SubscriptionView>().token).toBe(APNS_TOKEN);
      expect((await list(alice)).map((view) => view.kind)).toEqual(['fcm', 'apns']);
    });

    it('returns the same subscription when registered again', async () => {
      const first = await subscribe(alice, webPush());
      const newAuth = randomBytes(16).toString('base64url');
      const again = await subscribe(alice, webPush(ENDPOINT, { p256dh: P256DH, auth: newAuth }));

      expect(again.statusCode).toBe(201);
      expect(again.json<SubscriptionView>()).toEqual(first.json<SubscriptionView>());
      const stored = await api.push.listSubscriptions(alice.user.id);
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ keys: { auth: newAuth } });
    });

    it('stores one subscription for two spellings of an endpoint', async () => {
      const first = await subscribe(alice, webPush());
      const again = await subscribe(alice, webPush(' HTTPS://FCM.googleapis.com:443/fcm/send/abc123\n'));

      expect(again.statusCode).toBe(201);
      expect(again.json<SubscriptionView>()).toEqual(first.json<SubscriptionView>());
      expect(await list(alice)).toEqual([first.json<SubscriptionView>()]);
    });

    it('gives two users of one token separate subscriptions', async () => {
      await subscribe(alice, { kind: 'fcm', token: FCM_TOKEN });
      await subscribe(bob, { kind: 'fcm', token: FCM_TOKEN });
      expect(await list(alice)).toHaveLength(1);
      expect(await list(bob)).toHaveLength(1);
    });

    it('rejects a subscription above the maximum', async () => {
      for (let i = 0; i < 3; i++) {
        expect((await subscribe(alice, webPush(`${ENDPOINT}-${i}`))).statusCode).toBe(201);
      }
      const over = await subscribe(alice, webPush(`${ENDPOINT}-3`));
      const again = await subscribe(alice, webPush(`${ENDPOINT}-0`));

      expect(over.statusCode).toBe(409);
      expect(errorOf(over).code).toBe(ErrorCode.PushLimitReached);
      expect(again.statusCode).toBe(201);
    });

    it('deletes a subscription', async () => {
      const id = (await subscribe(alice, webPush())).json<SubscriptionView>().id;
      const response = await injectAs(api.app, alice.accessToken, {
        method: 'DELETE',
        url: `/v1/push/subscriptions/${id}`,
      });
      expect(response.statusCode).toBe(204);
      expect(await list(alice)).toEqual([]);
    });

    it("answers 404 for another user's subscription", async () => {
      const id = (await subscribe(alice, webPush())).json<SubscriptionView>().id;
      const response = await injectAs(api.app, bob.accessToken, {
        method: 'DELETE',
        url: `/v1/push/subscriptions/${id}`,
      });
      expect(response.statusCode).toBe(404);
      expect(errorOf(response).code).toBe(ErrorCode.PushSubscriptionNotFound);
      expect(await list(alice)).toHaveLength(1);
    });

    it('answers 404 for an unknown subscription', async () => {
      const response = await injectAs(api.app, alice.accessToken, {
        method: 'DELETE',
        url: '/v1/push/subscriptions/unknown',
      });
      expect(response.statusCode).toBe(404);
      expect(errorOf(response).code).toBe(ErrorCode.PushSubscriptionNotFound);
    });

    it('rejects a malformed subscription id', async () => {
      const response = await injectAs(api.app, alice.accessToken, {
        method: 'DELETE',
        url: '/v1/push/subscriptions/a.b',
      });
      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
    });

    const shortKey = createECDH('prime256v1').generateKeys().subarray(0, 64).toString('base64url');
    const compressedKey = createECDH('prime256v1').generateKeys('base64url', 'compressed');
    it.each([
      ['an unknown kind', { kind: 'sms', token: FCM_TOKEN }, ErrorCode.RequestInvalid],
      ['no kind', { token: FCM_TOKEN }, ErrorCode.RequestInvalid],
      ['an extra field', { kind: 'fcm', token: FCM_TOKEN, user: 'bob' }, ErrorCode.RequestInvalid],
      [
        'webpush without endpoint',
        { kind: 'webpush', keys: { p256dh: P256DH, auth: AUTH } },
        ErrorCode.RequestInvalid,
      ],
      ['webpush without keys', { kind: 'webpush', endpoint: ENDPOINT }, ErrorCode.RequestInvalid],
      ['webpush with a token', { ...webPush(), token: FCM_TOKEN }, ErrorCode.RequestInvalid],
      ['webpush keys without auth', webPush(ENDPOINT, { p256dh: P256DH }), ErrorCode.RequestInvalid],
      [
        'an endpoint of a host not allowed',
        webPush('https://internal.example/push'),
        ErrorCode.PushEndpointInvalid,
      ],
      ['an endpoint on loopback', webPush('https://127.0.0.1:8443/push'), ErrorCode.PushEndpointInvalid],
      // Plain http passes only for a host listed exactly, which is meant for test services.
      [
        'a plain http endpoint',
        webPush('http://eu.push.services.mozilla.com/x'),
        ErrorCode.PushEndpointInvalid,
      ],
      ['an endpoint that is not a URL', webPush('not a url'), ErrorCode.PushEndpointInvalid],
      [
        'an endpoint with credentials',
        webPush('https://u:p@fcm.googleapis.com/x'),
        ErrorCode.PushEndpointInvalid,
      ],
      [
        'an endpoint over 2048 characters',
        webPush(`${ENDPOINT}/${'x'.repeat(2048)}`),
        ErrorCode.RequestInvalid,
      ],
      [
        'a p256dh of 64 bytes',
        webPush(ENDPOINT, { p256dh: shortKey, auth: AUTH }),
        ErrorCode.PushKeysInvalid,
      ],
      [
        'a compressed p256dh',
        webPush(ENDPOINT, { p256dh: compressedKey, auth: AUTH }),
        ErrorCode.PushKeysInvalid,
      ],
      [
        'a p256dh not in base64url',
        webPush(ENDPOINT, { p256dh: 'a+b/'.repeat(22), auth: AUTH }),
        ErrorCode.PushKeysInvalid,
      ],
      [
        'an auth of 15 bytes',
        webPush(ENDPOINT, { p256dh: P256DH, auth: randomBytes(15).toString('base64url') }),
        ErrorCode.PushKeysInvalid,
      ],
      [
        'an auth of 17 bytes',
        webPush(ENDPOINT, { p256dh: P256DH, auth: randomBytes(17).toString('base64url') }),
        ErrorCode.PushKeysInvalid,
      ],
      ['fcm without token', { kind: 'fcm' }, ErrorCode.RequestInvalid],
      [
        'fcm with an endpoint',
        { kind: 'fcm', token: FCM_TOKEN, endpoint: ENDPOINT },
        ErrorCode.RequestInvalid,
      ],
      ['fcm with a short token', { kind: 'fcm', token: 'abc' }, ErrorCode.PushTokenInvalid],
      ['fcm with spaces in the token', { kind: 'fcm', token: `${FCM_TOKEN} x` }, ErrorCode.PushTokenInvalid],
      [
        'fcm with a token over 4096 characters',
        { kind: 'fcm', token: 'x'.repeat(4097) },
        ErrorCode.RequestInvalid,
      ],
      [
        'apns with a token that is not hex',
        { kind: 'apns', token: 'zz'.repeat(32) },
        ErrorCode.PushTokenInvalid,
      ],
      [
        'apns with an odd number of digits',
        { kind: 'apns', token: `${APNS_TOKEN}a` },
        ErrorCode.PushTokenInvalid,
      ],
      ['apns with a 31-byte token', { kind: 'apns', token: 'ab'.repeat(31) }, ErrorCode.PushTokenInvalid],
      ['apns with a 101-byte token', { kind: 'apns', token: 'ab'.repeat(101) }, ErrorCode.PushTokenInvalid],
      ['a token that is a number', { kind: 'apns', token: 12 }, ErrorCode.RequestInvalid],
    ])('rejects %s', async (_name, payload, code) => {
      const response = await subscribe(alice, payload);
      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe(code);
      expect(await api.push.listSubscriptions(alice.user.id)).toEqual([]);
    });
  });

  describe('allowed hosts', () => {
    it('accepts an endpoint on a configured host', async () => {
      await start({ allowedHosts: ['127.0.0.1', '.push.example'] });
      const loopback = await subscribe(alice, webPush('http://127.0.0.1:9000/push/1'));
      const suffix = await subscribe(alice, webPush('https://eu.push.example/x'));
      const public_ = await subscribe(alice, webPush(ENDPOINT));
      expect(loopback.statusCode).toBe(201);
      expect(suffix.statusCode).toBe(201);
      expect(public_.statusCode).toBe(400);
      expect(errorOf(public_).code).toBe(ErrorCode.PushEndpointInvalid);
    });
  });

  describe('settings and mutes', () => {
    beforeEach(async () => {
      await start({ maxMutedConversations: 2 });
    });

    const conv = () => buildDirectConversationId(alice.user.id, bob.user.id);

    async function settings(session: AuthSession) {
      const response = await injectAs(api.app, session.accessToken, {
        method: 'GET',
        url: '/v1/push/settings',
      });
      expect(response.statusCode).toBe(200);
      return response.json();
    }

    function mute(session: AuthSession, conversation: string, method: 'PUT' | 'DELETE' = 'PUT') {
      return injectAs(api.app, session.accessToken, { method, url: `/v1/push/mutes/${conversation}` });
    }

    it('returns the defaults', async () => {
      expect(await settings(alice)).toEqual(DEFAULT_PUSH_SETTINGS);
    });

    it('changes muted and previews', async () => {
      const response = await injectAs(api.app, alice.accessToken, {
        method: 'PUT',
        url: '/v1/push/settings',
        payload: { muted: true, previews: false },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ muted: true, previews: false, mutedConversations: [] });
      expect(await settings(alice)).toEqual({ muted: true, previews: false, mutedConversations: [] });
      expect(await settings(bob)).toEqual(DEFAULT_PUSH_SETTINGS);
    });

    it.each([
      ['a missing field', { muted: true }],
      ['a string for a boolean', { muted: 'yes', previews: true }],
      ['an extra field', { muted: true, previews: true, mutedConversations: [] }],
    ])('rejects settings with %s', async (_name, payload) => {
      const response = await injectAs(api.app, alice.accessToken, {
        method: 'PUT',
        url: '/v1/push/settings',
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
    });

    it('mutes and unmutes a conversation', async () => {
      await api.store.ensureDirectConversation(conv(), [alice.user.id, bob.user.id], Date.now());
      const first = await mute(alice, conv());
      const twice = await mute(alice, conv());
      const whileMuted = await settings(alice);
      const unmute = await mute(alice, conv(), 'DELETE');

      expect(first.statusCode).toBe(204);
      expect(twice.statusCode).toBe(204);
      expect(whileMuted.mutedConversations).toEqual([conv()]);
      expect(unmute.statusCode).toBe(204);
      expect((await settings(alice)).mutedConversations).toEqual([]);
    });

    it('keeps muted conversations when settings change', async () => {
      await api.store.ensureDirectConversation(conv(), [alice.user.id, bob.user.id], Date.now());
      await mute(alice, conv());
      await injectAs(api.app, alice.accessToken, {
        method: 'PUT',
        url: '/v1/push/settings',
        payload: { muted: false, previews: false },
      });
      expect(await settings(alice)).toEqual({ muted: false, previews: false, mutedConversations: [conv()] });
    });

    it('mutes a group the caller is a member of', async () => {
      await api.store.createGroup(
        {
          conv: 'g.team',
          kind: 'group',
          name: 'Team',
          createdBy: alice.user.id,
          createdAt: 1,
          version: 'v1',
        },
        [
          { user: alice.user.id, role: 'admin', joinedSeq: 0, leftSeq: null },
          { user: bob.user.id, role: 'member', joinedSeq: 0, leftSeq: 3 },
        ],
      );
      const member = await mute(alice, 'g.team');
      const former = await mute(bob, 'g.team');
      expect(member.statusCode).toBe(204);
      expect(former.statusCode).toBe(404);
      expect(errorOf(former).code).toBe(ErrorCode.ConversationNotFound);
    });

    it('rejects a conversation the caller is not in', async () => {
      const carol = await createTestUser(api, 'carol');
      await api.store.ensureDirectConversation(conv(), [alice.user.id, bob.user.id], Date.now());
      const outsider = await mute(carol, conv());
      const missing = await mute(alice, 'g.nowhere');
      expect(outsider.statusCode).toBe(404);
      expect(errorOf(outsider).code).toBe(ErrorCode.ConversationNotFound);
      expect(missing.statusCode).toBe(404);
      expect((await settings(carol)).mutedConversations).toEqual([]);
    });

    it('rejects a malformed conversation id', async () => {
      const response = await mute(alice, 'team');
      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
    });

    it('rejects a mute above the maximum', async () => {
      const carol = await createTestUser(api, 'carol');
      const dave = await createTestUser(api, 'dave');
      for (const peer of [bob, carol, dave]) {
        const id = buildDirectConversationId(alice.user.id, peer.user.id);
        await api.store.ensureDirectConversation(id, [alice.user.id, peer.user.id], Date.now());
      }
      expect((await mute(alice, buildDirectConversationId(alice.user.id, bob.user.id))).statusCode).toBe(204);
      expect((await mute(alice, buildDirectConversationId(alice.user.id, carol.user.id))).statusCode).toBe(
        204,
      );
      const over = await mute(alice, buildDirectConversationId(alice.user.id, dave.user.id));
      expect(over.statusCode).toBe(409);
      expect(errorOf(over).code).toBe(ErrorCode.PushLimitReached);
    });
  });

  it('documents the push routes', async () => {
    await start();
    const response = await api.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const paths = Object.keys(response.json<{ paths: Record<string, unknown> }>().paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1/push/config',
        '/v1/push/subscriptions',
        '/v1/push/subscriptions/{id}',
        '/v1/push/settings',
        '/v1/push/mutes/{conv}',
      ]),
    );
  });
});
