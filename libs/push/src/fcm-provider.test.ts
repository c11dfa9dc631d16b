import { generateKeyPairSync, sign } from 'node:crypto';
import { ConfigError } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FCM_SCOPE, FcmProvider, type FcmProviderConfig } from './fcm-provider.ts';
import type { PushNotification } from './provider.ts';
import { FakeFcmServer } from './testing/index.ts';

const notification: PushNotification = {
  title: 'alice',
  body: 'lunch at noon?',
  conv: 'dm:alice:bob',
  seq: 42,
  unread: 3,
  collapseKey: 'dm-alice-bob',
  data: { kind: 'message', from: 'dropped: reserved by FCM' },
};

/** A clock shared by a provider and a fake, so token lifetimes can be skipped over. */
function createClock() {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance: (ms: number) => {
      offset += ms;
    },
  };
}

let server: FakeFcmServer;
let tokenCounter = 0;

function nextToken(): string {
  tokenCounter += 1;
  return `device-token-${tokenCounter}`;
}

function createProvider(overrides: Partial<FcmProviderConfig> = {}): FcmProvider {
  return new FcmProvider({ serviceAccount: server.serviceAccount, origin: server.origin, ...overrides });
}

beforeAll(async () => {
  server = await FakeFcmServer.start({ projectId: 'switchboard-fcm-test' });
});

afterAll(async () => {
  await server.close();
});

describe('FcmProvider', () => {
  it('sends a message the server accepts', async () => {
    const provider = createProvider();
    const token = nextToken();

    const outcome = await provider.send({ kind: 'fcm', token }, notification);

    expect(outcome).toEqual({ outcome: 'sent' });
    const received = server.received.find((entry) => entry.message.token === token);
    expect(received?.message).toEqual({
      token,
      notification: { title: 'alice', body: 'lunch at noon?' },
      data: { kind: 'message', conv: 'dm:alice:bob', seq: '42', unread: '3' },
      android: { collapse_key: 'dm-alice-bob', priority: 'high', ttl: '86400s' },
      apns: {
        headers: { 'apns-collapse-id': 'dm-alice-bob', 'apns-priority': '10' },
        payload: { aps: { badge: 3, 'thread-id': 'dm:alice:bob' } },
      },
    });
  });

  it('signs an assertion with the expected claims', async () => {
    const provider = createProvider();
    const issuedBefore = server.issuedTokens.length;

    await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    const claims = server.issuedTokens[issuedBefore]?.assertionClaims;
    expect(claims?.iss).toBe(server.serviceAccount.client_email);
    expect(claims?.aud).toBe(server.serviceAccount.token_uri);
    expect(claims?.scope).toBe(FCM_SCOPE);
    expect((claims?.exp as number) - (claims?.iat as number)).toBeLessThanOrEqual(3600);
  });

  it('omits the apns block when disabled', async () => {
    const provider = createProvider({ includeApns: false });
    const token = nextToken();

    await provider.send({ kind: 'fcm', token }, notification);

    const received = server.received.find((entry) => entry.message.token === token);
    expect(received?.message.apns).toBeUndefined();
  });

  it('reuses the access token until it nears expiry', async () => {
    const clock = createClock();
    const fake = await FakeFcmServer.start({ now: clock.now, expiresIn: 3600 });
    const provider = new FcmProvider({
      serviceAccount: fake.serviceAccount,
      origin: fake.origin,
      now: clock.now,
    });

    try {
      await provider.send({ kind: 'fcm', token: nextToken() }, notification);
      clock.advance(3500_000);
      await provider.send({ kind: 'fcm', token: nextToken() }, notification);
      expect(fake.tokenRequests).toBe(1);

      clock.advance(50_000);
      const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

      expect(outcome).toEqual({ outcome: 'sent' });
      expect(fake.tokenRequests).toBe(2);
      expect(provider.tokenRequests).toBe(2);
      expect(fake.received[2]?.accessToken).toBe(fake.issuedTokens[1]?.value);
    } finally {
      await fake.close();
    }
  });

  it('shares one token request between concurrent sends', async () => {
    const fake = await FakeFcmServer.start();
    const provider = new FcmProvider({ serviceAccount: fake.serviceAccount, origin: fake.origin });

    try {
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () => provider.send({ kind: 'fcm', token: nextToken() }, notification)),
      );

      expect(outcomes.every((outcome) => outcome.outcome === 'sent')).toBe(true);
      expect(fake.tokenRequests).toBe(1);
    } finally {
      await fake.close();
    }
  });

  it('refreshes the token once on 401', async () => {
    const fake = await FakeFcmServer.start();
    const provider = new FcmProvider({ serviceAccount: fake.serviceAccount, origin: fake.origin });

    try {
      await provider.send({ kind: 'fcm', token: nextToken() }, notification);
      fake.revokeAccessTokens();

      const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

      expect(outcome).toEqual({ outcome: 'sent' });
      expect(fake.tokenRequests).toBe(2);
      expect(fake.sendRequests).toBe(3);
      expect(fake.rejected.at(-1)).toMatchObject({ status: 401 });
    } finally {
      await fake.close();
    }
  });

  it('retries when a fresh token is rejected too', async () => {
    const fake = await FakeFcmServer.start();
    const provider = new FcmProvider({ serviceAccount: fake.serviceAccount, origin: fake.origin });
    fake.respondNext(
      { status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED', message: 'no' } } },
      2,
    );

    try {
      const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

      expect(outcome).toMatchObject({ outcome: 'retry' });
      expect(outcome).toHaveProperty('reason', expect.stringMatching(/fresh access token/));
      expect(fake.tokenRequests).toBe(2);
      expect(fake.sendRequests).toBe(2);
    } finally {
      await fake.close();
    }
  });

  it('maps UNREGISTERED to gone', async () => {
    const provider = createProvider();
    const token = nextToken();
    server.markGone(token, 'UNREGISTERED');

    const outcome = await provider.send({ kind: 'fcm', token }, notification);

    expect(outcome).toMatchObject({ outcome: 'gone' });
    expect(outcome).toHaveProperty('reason', expect.stringMatching(/404 UNREGISTERED/));
  });

  it('maps INVALID_ARGUMENT on the token to gone', async () => {
    const provider = createProvider();
    const token = nextToken();
    server.markGone(token, 'INVALID_ARGUMENT');

    const outcome = await provider.send({ kind: 'fcm', token }, notification);

    expect(outcome).toMatchObject({ outcome: 'gone' });
  });

  it('maps INVALID_ARGUMENT on the message to failed', async () => {
    const provider = createProvider();
    server.respondNext({
      status: 400,
      body: {
        error: {
          code: 400,
          status: 'INVALID_ARGUMENT',
          message: 'Invalid value at message.android.ttl',
          details: [
            { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'INVALID_ARGUMENT' },
          ],
        },
      },
    });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'failed' });
  });

  it('maps SENDER_ID_MISMATCH to failed', async () => {
    const provider = createProvider();
    server.respondNext({
      status: 403,
      body: {
        error: {
          code: 403,
          status: 'PERMISSION_DENIED',
          message: 'SenderId mismatch',
          details: [
            {
              '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError',
              errorCode: 'SENDER_ID_MISMATCH',
            },
          ],
        },
      },
    });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toEqual({
      outcome: 'failed',
      reason: 'FCM responded 403 SENDER_ID_MISMATCH SenderId mismatch',
    });
  });

  it('maps 429 with Retry-After seconds to retry', async () => {
    const provider = createProvider();
    server.respondNext({
      status: 429,
      retryAfter: '30',
      body: { error: { code: 429, status: 'RESOURCE_EXHAUSTED' } },
    });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'retry', retryAfterMs: 30_000 });
  });

  it('maps 429 with a Retry-After date to retry', async () => {
    const provider = createProvider();
    server.respondNext({ status: 429, retryAfter: new Date(Date.now() + 60_000).toUTCString() });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    const retryAfterMs = outcome.outcome === 'retry' ? outcome.retryAfterMs : undefined;
    expect(retryAfterMs).toBeGreaterThan(55_000);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it.each([500, 503])('maps %i to retry', async (status) => {
    const provider = createProvider();
    server.respondNext({
      status,
      body: { error: { code: status, status: 'UNAVAILABLE', message: 'later' } },
    });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toEqual({ outcome: 'retry', reason: `FCM responded ${status} UNAVAILABLE later` });
  });

  it('retries after a timeout', async () => {
    const provider = createProvider({ timeoutMs: 200 });
    await provider.send({ kind: 'fcm', token: nextToken() }, notification);
    server.respondNext({ status: 200, delayMs: 1500 });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'retry' });
    expect(outcome).toHaveProperty('reason', expect.stringMatching(/timed out after 200 ms/));
  });

  it('fails when the token endpoint rejects the grant', async () => {
    const provider = createProvider();
    server.respondNextToken({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'revoked key' },
    });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'failed' });
    expect(outcome).toHaveProperty('reason', expect.stringMatching(/invalid_grant/));
  });

  it('retries when the token endpoint is unavailable', async () => {
    const provider = createProvider();
    server.respondNextToken({ status: 503, retryAfter: 5 });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'retry', retryAfterMs: 5000 });
  });

  it('fails with a private key that cannot sign', async () => {
    const provider = createProvider({
      serviceAccount: { ...server.serviceAccount, private_key: 'not a key' },
    });

    const outcome = await provider.send({ kind: 'fcm', token: nextToken() }, notification);

    expect(outcome).toMatchObject({ outcome: 'failed' });
    expect(outcome).toHaveProperty('reason', expect.stringMatching(/private_key is invalid/));
  });

  it('reports an empty token as gone without a request', async () => {
    const provider = createProvider();
    const before = server.sendRequests;

    const outcome = await provider.send({ kind: 'fcm', token: '' }, notification);

    expect(outcome).toMatchObject({ outcome: 'gone' });
    expect(server.sendRequests).toBe(before);
  });

  it('rejects a service account without client_email', () => {
    expect(() => createProvider({ serviceAccount: { ...server.serviceAccount, client_email: '' } })).toThrow(
      ConfigError,
    );
  });
});

describe('FakeFcmServer', () => {
  async function fetchToken(assertion: string) {
    const response = await fetch(server.serviceAccount.token_uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  function signAssertion(
    claims: Record<string, unknown>,
    privateKey = server.serviceAccount.private_key,
  ): string {
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), privateKey).toString('base64url');
    return `${header}.${payload}.${signature}`;
  }

  function validClaims(): Record<string, unknown> {
    const iat = Math.floor(Date.now() / 1000);
    return {
      iss: server.serviceAccount.client_email,
      scope: FCM_SCOPE,
      aud: server.serviceAccount.token_uri,
      iat,
      exp: iat + 3600,
    };
  }

  it('issues a token for a valid assertion', async () => {
    const { status, body } = await fetchToken(signAssertion(validClaims()));

    expect(status).toBe(200);
    expect(body.expires_in).toBe(3600);
  });

  it('rejects an assertion signed with another key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const otherKey = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    const { status, body } = await fetchToken(signAssertion(validClaims(), otherKey));

    expect(status).toBe(400);
    expect(body).toEqual({ error: 'invalid_grant', error_description: 'JWT signature does not verify' });
  });

  it('rejects an assertion for another audience', async () => {
    const { status, body } = await fetchToken(
      signAssertion({ ...validClaims(), aud: 'https://example.com/token' }),
    );

    expect(status).toBe(400);
    expect(body.error_description).toMatch(/^aud must be/);
  });

  it('rejects an assertion valid for more than one hour', async () => {
    const claims = validClaims();
    const { status, body } = await fetchToken(
      signAssertion({ ...claims, exp: (claims.iat as number) + 7200 }),
    );

    expect(status).toBe(400);
    expect(body.error_description).toBe('exp is more than one hour after iat');
  });

  it('rejects a send with a wrong bearer token', async () => {
    const response = await fetch(`${server.origin}/v1/projects/${server.projectId}/messages:send`, {
      method: 'POST',
      headers: { authorization: 'Bearer ya29.made-up', 'content-type': 'application/json' },
      body: JSON.stringify({ message: { token: 't' } }),
    });

    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
  });

  it('rejects a message with a non-string data value', async () => {
    const { body: tokenBody } = await fetchToken(signAssertion(validClaims()));

    const response = await fetch(`${server.origin}/v1/projects/${server.projectId}/messages:send`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${String(tokenBody.access_token)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ message: { token: 't', data: { seq: 42 } } }),
    });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
      'message.data.seq must be a string',
    );
  });
});
