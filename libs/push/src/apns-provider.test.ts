import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import http2 from 'node:http2';
import { ConfigError } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APNS_TOKEN_LIFETIME_MS, ApnsProvider, type ApnsProviderConfig } from './apns-provider.ts';
import type { PushNotification } from './provider.ts';
import { FakeApnsServer } from './testing/index.ts';

const notification: PushNotification = {
  title: 'alice',
  body: 'lunch at noon?',
  conv: 'dm:alice:bob',
  seq: 42,
  unread: 3,
  collapseKey: 'dm-alice-bob',
  data: { kind: 'message' },
};

function createClock() {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance: (ms: number) => {
      offset += ms;
    },
  };
}

function deviceToken(): string {
  return randomBytes(32).toString('hex');
}

let server: FakeApnsServer;
const providers: ApnsProvider[] = [];

function createProvider(fake: FakeApnsServer, overrides: Partial<ApnsProviderConfig> = {}): ApnsProvider {
  const provider = new ApnsProvider({ ...fake.credentials, origin: fake.origin, ca: fake.ca, ...overrides });
  providers.push(provider);
  return provider;
}

beforeAll(async () => {
  server = await FakeApnsServer.start();
});

afterAll(async () => {
  await Promise.all(providers.map((provider) => provider.close()));
  await server.close();
});

describe('ApnsProvider', () => {
  it('sends over TLS a notification the server accepts', async () => {
    const provider = createProvider(server);
    const token = deviceToken();

    const outcome = await provider.send({ kind: 'apns', token }, notification);

    expect(server.origin.startsWith('https://')).toBe(true);
    expect(outcome).toEqual({ outcome: 'sent' });
    const received = server.received.find((entry) => entry.deviceToken === token);
    expect(received?.payload).toEqual({
      kind: 'message',
      aps: { alert: { title: 'alice', body: 'lunch at noon?' }, badge: 3, 'thread-id': 'dm:alice:bob' },
      conv: 'dm:alice:bob',
      seq: 42,
    });
    expect(received?.headers['apns-topic']).toBe(server.credentials.topic);
    expect(received?.headers['apns-push-type']).toBe('alert');
    expect(received?.headers['apns-priority']).toBe('10');
    expect(received?.headers['apns-collapse-id']).toBe('dm-alice-bob');
    expect(received?.headers['apns-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(received?.headers['apns-expiration'])).toBeGreaterThan(Date.now() / 1000 + 86_000);
    expect(received?.jwt.header).toEqual({ alg: 'ES256', kid: server.credentials.keyId });
    expect(received?.jwt.claims.iss).toBe(server.credentials.teamId);
  });

  it('hashes a collapse key longer than 64 bytes', async () => {
    const provider = createProvider(server);
    const token = deviceToken();

    await provider.send({ kind: 'apns', token }, { ...notification, collapseKey: 'c'.repeat(100) });

    const received = server.received.find((entry) => entry.deviceToken === token);
    expect(received?.headers['apns-collapse-id']).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('reuses one session for many sends', async () => {
    const fake = await FakeApnsServer.start();
    const provider = createProvider(fake);

    try {
      for (let i = 0; i < 3; i += 1)
        await provider.send({ kind: 'apns', token: deviceToken() }, notification);

      expect(fake.sessionCount).toBe(1);
      expect(provider.sessionsOpened).toBe(1);
      expect(fake.received).toHaveLength(3);
    } finally {
      await fake.close();
    }
  });

  it('reconnects after GOAWAY', async () => {
    const fake = await FakeApnsServer.start();
    const provider = createProvider(fake);

    try {
      await provider.send({ kind: 'apns', token: deviceToken() }, notification);
      fake.goAway();
      await new Promise((resolve) => setTimeout(resolve, 50));

      const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

      expect(outcome).toEqual({ outcome: 'sent' });
      expect(fake.sessionCount).toBe(2);
    } finally {
      await fake.close();
    }
  });

  it('reconnects after the server dropped the connection', async () => {
    const fake = await FakeApnsServer.start();
    const provider = createProvider(fake);

    try {
      await provider.send({ kind: 'apns', token: deviceToken() }, notification);
      fake.dropConnections();
      await new Promise((resolve) => setTimeout(resolve, 50));

      const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

      expect(outcome).toEqual({ outcome: 'sent' });
      expect(fake.sessionCount).toBe(2);
    } finally {
      await fake.close();
    }
  });

  it('reuses the provider token for 40 minutes', async () => {
    const clock = createClock();
    const fake = await FakeApnsServer.start({ now: clock.now });
    const provider = createProvider(fake, { now: clock.now });

    try {
      await provider.send({ kind: 'apns', token: deviceToken() }, notification);
      clock.advance(APNS_TOKEN_LIFETIME_MS - 60_000);
      await provider.send({ kind: 'apns', token: deviceToken() }, notification);
      expect(provider.tokensIssued).toBe(1);
      expect(fake.received[1]?.jwt.value).toBe(fake.received[0]?.jwt.value);

      clock.advance(61_000);
      const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

      expect(outcome).toEqual({ outcome: 'sent' });
      expect(provider.tokensIssued).toBe(2);
      expect(fake.received[2]?.jwt.value).not.toBe(fake.received[0]?.jwt.value);
      expect(fake.received[2]?.jwt.claims.iat).toBe(Math.floor(clock.now() / 1000));
    } finally {
      await fake.close();
    }
  });

  it('renews the token once on ExpiredProviderToken', async () => {
    const clock = createClock();
    const fake = await FakeApnsServer.start({ now: clock.now });
    const provider = createProvider(fake, { now: clock.now });

    try {
      await provider.send({ kind: 'apns', token: deviceToken() }, notification);
      fake.expireProviderTokens();
      clock.advance(1000);

      const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

      expect(outcome).toEqual({ outcome: 'sent' });
      expect(provider.tokensIssued).toBe(2);
      expect(fake.rejected).toEqual([
        expect.objectContaining({ status: 403, reason: 'ExpiredProviderToken' }),
      ]);
      expect(fake.requestCount).toBe(3);
    } finally {
      await fake.close();
    }
  });

  it('retries when a renewed token is rejected too', async () => {
    const provider = createProvider(server);
    server.respondNext({ status: 403, reason: 'ExpiredProviderToken' }, 2);
    const issuedBefore = provider.tokensIssued;

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'retry' });
    expect(provider.tokensIssued).toBe(issuedBefore + 2);
  });

  it.each(['Unregistered', 'BadDeviceToken', 'DeviceTokenNotForTopic'] as const)(
    'maps %s to gone',
    async (reason) => {
      const provider = createProvider(server);
      const token = deviceToken();
      server.markGone(token, reason);

      const outcome = await provider.send({ kind: 'apns', token }, notification);

      expect(outcome).toEqual({
        outcome: 'gone',
        reason: `APNs responded ${reason === 'Unregistered' ? 410 : 400} ${reason}`,
      });
    },
  );

  it('maps 429 with Retry-After seconds to retry', async () => {
    const provider = createProvider(server);
    server.respondNext({ status: 429, reason: 'TooManyRequests', retryAfter: 15 });

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toEqual({
      outcome: 'retry',
      reason: 'APNs responded 429 TooManyRequests',
      retryAfterMs: 15_000,
    });
  });

  it('maps 429 with a Retry-After date to retry', async () => {
    const provider = createProvider(server);
    server.respondNext({
      status: 429,
      reason: 'TooManyRequests',
      retryAfter: new Date(Date.now() + 45_000).toUTCString(),
    });

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    const retryAfterMs = outcome.outcome === 'retry' ? outcome.retryAfterMs : undefined;
    expect(retryAfterMs).toBeGreaterThan(40_000);
    expect(retryAfterMs).toBeLessThanOrEqual(45_000);
  });

  it.each([
    [500, 'InternalServerError'],
    [503, 'ServiceUnavailable'],
  ])('maps %i to retry', async (status, reason) => {
    const provider = createProvider(server);
    server.respondNext({ status, reason });

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toEqual({ outcome: 'retry', reason: `APNs responded ${status} ${reason}` });
  });

  it('maps 500 without a JSON body to retry', async () => {
    const provider = createProvider(server);
    server.respondNext({ status: 500, body: 'upstream failure' });

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toEqual({ outcome: 'retry', reason: 'APNs responded 500' });
  });

  it('maps other 4xx to failed', async () => {
    const provider = createProvider(server);
    server.respondNext({ status: 400, reason: 'BadTopic' });

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toEqual({ outcome: 'failed', reason: 'APNs responded 400 BadTopic' });
  });

  it('fails with a key the server does not know', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const provider = createProvider(server, {
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toEqual({ outcome: 'failed', reason: 'APNs responded 403 InvalidProviderToken' });
  });

  it('retries after a timeout', async () => {
    const provider = createProvider(server, { timeoutMs: 200 });
    server.respondNext({ status: 200, delayMs: 1500 });

    const started = Date.now();
    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'retry' });
    expect(outcome).toHaveProperty('reason', expect.stringMatching(/timed out after 200 ms/));
    expect(Date.now() - started).toBeLessThan(1400);

    const next = await provider.send({ kind: 'apns', token: deviceToken() }, notification);
    expect(next).toEqual({ outcome: 'sent' });
  });

  it('retries when the connection is refused', async () => {
    const closed = await FakeApnsServer.start();
    await closed.close();
    const provider = createProvider(closed);

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'retry' });
  });

  it('retries when the certificate is not trusted', async () => {
    const provider = createProvider(server, { ca: undefined });

    const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'retry' });
    expect(outcome).toHaveProperty('reason', expect.stringMatching(/certificate/));
  });

  it('reports a malformed device token as gone without a request', async () => {
    const provider = createProvider(server);
    const before = server.requestCount;

    const outcome = await provider.send({ kind: 'apns', token: '../../admin' }, notification);

    expect(outcome).toMatchObject({ outcome: 'gone' });
    expect(server.requestCount).toBe(before);
  });

  it('sends over cleartext HTTP/2', async () => {
    const fake = await FakeApnsServer.start({ cleartext: true });
    const provider = createProvider(fake);

    try {
      const outcome = await provider.send({ kind: 'apns', token: deviceToken() }, notification);

      expect(fake.origin.startsWith('http://')).toBe(true);
      expect(outcome).toEqual({ outcome: 'sent' });
    } finally {
      await fake.close();
    }
  });

  it('rejects a missing team ID', () => {
    expect(() => new ApnsProvider({ ...server.credentials, teamId: '' })).toThrow(ConfigError);
  });
});

describe('FakeApnsServer', () => {
  function signJwt(
    header: Record<string, unknown>,
    claims: Record<string, unknown>,
    privateKey: string,
  ): string {
    const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
    const encodedClaims = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${encodedHeader}.${encodedClaims}`), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${encodedHeader}.${encodedClaims}.${signature.toString('base64url')}`;
  }

  function validJwt(): string {
    return signJwt(
      { alg: 'ES256', kid: server.credentials.keyId },
      { iss: server.credentials.teamId, iat: Math.floor(Date.now() / 1000) },
      server.credentials.privateKey,
    );
  }

  async function post(headers: http2.OutgoingHttpHeaders, body: string) {
    const session = http2.connect(server.origin, { ca: server.ca });
    try {
      return await new Promise<{ status: number; reason: string | undefined }>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': `/3/device/${deviceToken()}`,
          'apns-topic': server.credentials.topic,
          'apns-push-type': 'alert',
          ...headers,
        });
        let status = 0;
        let text = '';
        stream.on('response', (incoming) => {
          status = Number(incoming[':status']);
        });
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          text += chunk;
        });
        stream.on('end', () => {
          resolve({
            status,
            reason: text === '' ? undefined : (JSON.parse(text) as { reason: string }).reason,
          });
        });
        stream.on('error', reject);
        stream.end(body);
      });
    } finally {
      session.close();
    }
  }

  const body = JSON.stringify({ aps: { alert: { title: 't', body: 'b' } } });

  it('accepts a valid request', async () => {
    expect(await post({ authorization: `bearer ${validJwt()}` }, body)).toEqual({
      status: 200,
      reason: undefined,
    });
  });

  it('rejects a JWT signed with another key', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwt = signJwt(
      { alg: 'ES256', kid: server.credentials.keyId },
      { iss: server.credentials.teamId, iat: Math.floor(Date.now() / 1000) },
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );

    expect(await post({ authorization: `bearer ${jwt}` }, body)).toEqual({
      status: 403,
      reason: 'InvalidProviderToken',
    });
  });

  it('rejects a JWT with another kid', async () => {
    const jwt = signJwt(
      { alg: 'ES256', kid: 'OTHERKEY00' },
      { iss: server.credentials.teamId, iat: Math.floor(Date.now() / 1000) },
      server.credentials.privateKey,
    );

    expect(await post({ authorization: `bearer ${jwt}` }, body)).toEqual({
      status: 403,
      reason: 'InvalidProviderToken',
    });
  });

  it('rejects a JWT older than one hour', async () => {
    const jwt = signJwt(
      { alg: 'ES256', kid: server.credentials.keyId },
      { iss: server.credentials.teamId, iat: Math.floor(Date.now() / 1000) - 3700 },
      server.credentials.privateKey,
    );

    expect(await post({ authorization: `bearer ${jwt}` }, body)).toEqual({
      status: 403,
      reason: 'ExpiredProviderToken',
    });
  });

  it('rejects a request without a provider token', async () => {
    expect(await post({}, body)).toEqual({ status: 403, reason: 'MissingProviderToken' });
  });

  it('rejects a wrong topic', async () => {
    const result = await post(
      { authorization: `bearer ${validJwt()}`, 'apns-topic': 'com.example.other' },
      body,
    );

    expect(result).toEqual({ status: 400, reason: 'TopicDisallowed' });
  });

  it('rejects a payload without an alert', async () => {
    const result = await post(
      { authorization: `bearer ${validJwt()}` },
      JSON.stringify({ aps: { badge: 1 } }),
    );

    expect(result).toEqual({ status: 400, reason: 'BadPayload: aps.alert must be an object' });
  });
});
