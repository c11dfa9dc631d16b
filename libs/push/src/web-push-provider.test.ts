import { ConfigError } from '@switchboard/core';
import webpush from 'web-push';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_WEB_PUSH_HOSTS, type PushNotification } from './provider.ts';
import { FakeWebPushService, type FakeWebPushSubscription } from './testing/index.ts';
import { WebPushProvider } from './web-push-provider.ts';

const vapid = webpush.generateVAPIDKeys();
const otherVapid = webpush.generateVAPIDKeys();

const notification: PushNotification = {
  title: 'alice',
  body: 'lunch at noon?',
  conv: 'dm:alice:bob',
  seq: 42,
  unread: 3,
  collapseKey: 'dm-alice-bob',
  data: { kind: 'message' },
};

let service: FakeWebPushService;

function createProvider(options: { timeoutMs?: number; allowedHosts?: string[] } = {}): WebPushProvider {
  return new WebPushProvider({
    subject: 'mailto:ops@example.com',
    publicKey: vapid.publicKey,
    privateKey: vapid.privateKey,
    allowedHosts: options.allowedHosts ?? [...DEFAULT_WEB_PUSH_HOSTS, '127.0.0.1'],
    timeoutMs: options.timeoutMs ?? 5000,
  });
}

function targetOf(subscription: FakeWebPushSubscription) {
  return { kind: 'webpush' as const, endpoint: subscription.endpoint, keys: subscription.keys };
}

beforeAll(async () => {
  service = await FakeWebPushService.start();
});

afterAll(async () => {
  await service.close();
});

describe('WebPushProvider', () => {
  const provider = createProvider();

  afterAll(async () => {
    await provider.close();
  });

  it('delivers a payload the service decrypts', async () => {
    const subscription = service.createSubscription({ applicationServerKey: vapid.publicKey });

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome).toEqual({ outcome: 'sent' });
    const [received] = service.receivedFor(subscription.endpoint);
    expect(received).toBeDefined();
    expect(received?.payload).toEqual(notification);
    expect(received?.vapid.publicKey).toBe(vapid.publicKey);
    expect(received?.vapid.claims.aud).toBe(service.origin);
    expect(received?.vapid.claims.sub).toBe('mailto:ops@example.com');
    expect(received?.ttl).toBe(86_400);
    expect(received?.urgency).toBe('high');
    expect(received?.topic).toBe('dm-alice-bob');
  });

  it('hashes a collapse key that is not a valid Topic', async () => {
    const subscription = service.createSubscription();

    const outcome = await provider.send(targetOf(subscription), {
      ...notification,
      collapseKey: 'group:a very long conversation id that exceeds the topic limit',
    });

    expect(outcome).toEqual({ outcome: 'sent' });
    const topic = service.receivedFor(subscription.endpoint)[0]?.topic;
    expect(topic).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('shortens a body too large for one push message', async () => {
    const subscription = service.createSubscription();

    const outcome = await provider.send(targetOf(subscription), { ...notification, body: 'é'.repeat(5000) });

    expect(outcome).toEqual({ outcome: 'sent' });
    const payload = service.receivedFor(subscription.endpoint)[0]?.payload as PushNotification;
    expect(payload.body.endsWith('…')).toBe(true);
    expect(payload.body.length).toBeGreaterThan(1000);
    expect(payload.title).toBe(notification.title);
  });

  it('maps 429 with Retry-After seconds to retry', async () => {
    const subscription = service.createSubscription();
    service.respondNext({ status: 429, retryAfter: 120, body: 'slow down' });

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome).toMatchObject({ outcome: 'retry', retryAfterMs: 120_000 });
    expect(service.receivedFor(subscription.endpoint)).toHaveLength(0);
  });

  it('maps 429 with a Retry-After date to retry', async () => {
    const subscription = service.createSubscription();
    service.respondNext({ status: 429, retryAfter: new Date(Date.now() + 90_000).toUTCString() });

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome.outcome).toBe('retry');
    const retryAfterMs = outcome.outcome === 'retry' ? outcome.retryAfterMs : undefined;
    expect(retryAfterMs).toBeGreaterThan(85_000);
    expect(retryAfterMs).toBeLessThanOrEqual(90_000);
  });

  it.each([500, 502, 503])('maps %i to retry', async (status) => {
    const subscription = service.createSubscription();
    service.respondNext({ status });

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome).toEqual({ outcome: 'retry', reason: `web push service responded ${status}` });
  });

  it.each([404, 410] as const)('maps %i to gone', async (status) => {
    const subscription = service.createSubscription();
    service.markGone(subscription.endpoint, status);

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome).toMatchObject({ outcome: 'gone' });
  });

  it.each([400, 403, 413])('maps %i to failed', async (status) => {
    const subscription = service.createSubscription();
    service.respondNext({ status, body: 'no' });

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome).toEqual({ outcome: 'failed', reason: `web push service responded ${status}: no` });
  });

  it('fails when the subscription belongs to another VAPID key', async () => {
    const subscription = service.createSubscription({ applicationServerKey: otherVapid.publicKey });

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome).toMatchObject({ outcome: 'failed' });
    expect(service.rejected.at(-1)).toMatchObject({ status: 403 });
  });

  it('retries after a timeout', async () => {
    const fast = createProvider({ timeoutMs: 200 });
    const subscription = service.createSubscription();
    service.respondNext({ status: 201, delayMs: 1500 });

    const started = Date.now();
    const outcome = await fast.send(targetOf(subscription), notification);

    expect(outcome).toMatchObject({ outcome: 'retry' });
    expect(outcome).toHaveProperty('reason', expect.stringMatching(/timed out after 200 ms/));
    expect(Date.now() - started).toBeLessThan(1400);
  });

  it('retries when the connection is refused', async () => {
    const closed = await FakeWebPushService.start();
    const subscription = closed.createSubscription();
    await closed.close();

    const outcome = await provider.send(targetOf(subscription), notification);

    expect(outcome).toMatchObject({ outcome: 'retry' });
  });

  it('refuses an endpoint outside the allow-list without a request', async () => {
    const strict = createProvider({ allowedHosts: [...DEFAULT_WEB_PUSH_HOSTS] });
    const subscription = service.createSubscription();
    const before = service.requestCount;

    const outcome = await strict.send(targetOf(subscription), notification);

    expect(outcome).toEqual({
      outcome: 'failed',
      reason: 'endpoint host 127.0.0.1 is not an allowed push service',
    });
    expect(service.requestCount).toBe(before);
  });

  it('reports malformed subscription keys as gone', async () => {
    const subscription = service.createSubscription();
    const target = { ...targetOf(subscription), keys: { p256dh: 'AAAA', auth: subscription.keys.auth } };

    const outcome = await provider.send(target, notification);

    expect(outcome).toMatchObject({ outcome: 'gone' });
  });

  it('fails for a target of another kind', async () => {
    const outcome = await provider.send({ kind: 'fcm', token: 'abc' }, notification);

    expect(outcome).toMatchObject({ outcome: 'failed' });
  });

  it('rejects a public key that does not match the private key', () => {
    expect(
      () =>
        new WebPushProvider({
          subject: 'mailto:ops@example.com',
          publicKey: otherVapid.publicKey,
          privateKey: vapid.privateKey,
        }),
    ).toThrow(ConfigError);
  });

  it('rejects an invalid subject', () => {
    expect(
      () => new WebPushProvider({ subject: 'ops', publicKey: vapid.publicKey, privateKey: vapid.privateKey }),
    ).toThrow(/invalid VAPID details/);
  });
});

describe('FakeWebPushService', () => {
  let subscription: FakeWebPushSubscription;

  function requestDetails(options: { publicKey?: string; privateKey?: string; audience?: string } = {}) {
    const details = webpush.generateRequestDetails(subscription, JSON.stringify(notification), {
      vapidDetails: {
        subject: 'mailto:ops@example.com',
        publicKey: options.publicKey ?? vapid.publicKey,
        privateKey: options.privateKey ?? vapid.privateKey,
      },
      contentEncoding: 'aes128gcm',
      TTL: 60,
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) headers[name] = String(value);
    delete headers['Content-Length'];
    return { headers, body: new Uint8Array(details.body) };
  }

  async function post(
    headers: Record<string, string>,
    body: Uint8Array<ArrayBuffer>,
    endpoint = subscription.endpoint,
  ) {
    const response = await fetch(endpoint, { method: 'POST', headers, body });
    await response.arrayBuffer();
    return response.status;
  }

  afterEach(() => {
    expect(service.receivedFor(subscription.endpoint)).toHaveLength(0);
  });

  it('rejects a signature made with another VAPID key', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails({ privateKey: otherVapid.privateKey });

    expect(await post(headers, body)).toBe(401);
    expect(service.rejected.at(-1)?.reason).toBe('JWT signature does not verify');
  });

  it('rejects a corrupted ciphertext', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails();
    body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 0xff;

    expect(await post(headers, body)).toBe(400);
    expect(service.rejected.at(-1)?.reason).toBe('ciphertext does not decrypt: authentication tag mismatch');
  });

  it('rejects a payload encrypted for another subscription', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails();
    const other = service.createSubscription();

    expect(await post(headers, body, other.endpoint)).toBe(400);
    expect(service.rejected.at(-1)?.reason).toBe('ciphertext does not decrypt: authentication tag mismatch');
  });

  it('rejects a request without TTL', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails();
    delete headers.TTL;

    expect(await post(headers, body)).toBe(400);
    expect(service.rejected.at(-1)?.reason).toMatch(/TTL header missing/);
  });

  it('rejects another content encoding', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails();
    headers['Content-Encoding'] = 'aesgcm';

    expect(await post(headers, body)).toBe(400);
    expect(service.rejected.at(-1)?.reason).toMatch(/Content-Encoding must be aes128gcm/);
  });

  it('rejects a JWT for another audience', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails();
    const wrongAudience = webpush.getVapidHeaders(
      'https://push.example.com',
      'mailto:ops@example.com',
      vapid.publicKey,
      vapid.privateKey,
      'aes128gcm',
    );
    headers.Authorization = wrongAudience.Authorization;

    expect(await post(headers, body)).toBe(401);
    expect(service.rejected.at(-1)?.reason).toMatch(/^aud must be/);
  });

  it('rejects an expired JWT', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails();
    const expired = webpush.getVapidHeaders(
      service.origin,
      'mailto:ops@example.com',
      vapid.publicKey,
      vapid.privateKey,
      'aes128gcm',
      Math.floor(Date.now() / 1000) - 10,
    );
    headers.Authorization = expired.Authorization;

    expect(await post(headers, body)).toBe(401);
    expect(service.rejected.at(-1)?.reason).toBe('exp is missing or in the past');
  });

  it('rejects a request without Authorization', async () => {
    subscription = service.createSubscription();
    const { headers, body } = requestDetails();
    delete headers.Authorization;

    expect(await post(headers, body)).toBe(401);
  });
});
