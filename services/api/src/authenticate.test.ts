import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '@switchboard/protocol';
import { TokenIssuer } from '@switchboard/core';
import type { AuthSession } from './auth-routes.ts';
import { errorOf, injectAs, createTestUser, startTestApi, type TestApi } from './test-support.ts';

const PROTECTED_ROUTES = [
  { method: 'GET', url: '/v1/me' },
  { method: 'GET', url: '/v1/users?prefix=a' },
  { method: 'GET', url: '/v1/conversations' },
  { method: 'POST', url: '/v1/conversations/direct', payload: { userId: 'u_someone' } },
  { method: 'GET', url: '/v1/conversations/d.u_a.u_b/messages' },
] as const;

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('bearer authentication', () => {
  let api: TestApi;
  let alice: AuthSession;

  beforeEach(async () => {
    api = await startTestApi();
    alice = await createTestUser(api, 'alice');
  });

  afterEach(async () => {
    await api.close();
  });

  it.each(PROTECTED_ROUTES)('rejects $method $url without a token', async (route) => {
    const response = await api.app.inject(route);

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthTokenMissing);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  it.each(PROTECTED_ROUTES)('rejects $method $url with an expired token', async (route) => {
    const expired = await api.tokens.issueAccess(alice.user.id, Date.now() - 3600_000);

    const response = await injectAs(api.app, expired, route);

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthTokenExpired);
  });

  it('rejects a token signed with another secret', async () => {
    const forger = new TokenIssuer({
      secret: 'another-secret-of-thirty-two-b!!',
      accessTtlSeconds: 900,
      refreshTtlSeconds: 3600,
    });
    const forged = await forger.issueAccess(alice.user.id);

    const response = await injectAs(api.app, forged, { method: 'GET', url: '/v1/me' });

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthTokenInvalid);
  });

  it('rejects an unsigned token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64urlJson({ alg: 'none', typ: 'JWT' });
    const payload = base64urlJson({ sub: alice.user.id, iss: 'switchboard', iat: now, exp: now + 600 });

    const response = await injectAs(api.app, `${header}.${payload}.`, { method: 'GET', url: '/v1/me' });

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthTokenInvalid);
  });

  it('rejects a refresh token in place of an access token', async () => {
    const response = await injectAs(api.app, alice.refreshToken, { method: 'GET', url: '/v1/me' });

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthTokenInvalid);
  });

  it.each([
    ['another scheme', `Basic ${Buffer.from('alice:pw').toString('base64')}`],
    ['a bare token', 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln'],
    ['two tokens', 'Bearer abc def'],
  ])('rejects an Authorization header with %s', async (_case, authorization) => {
    const response = await api.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization } });

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthTokenInvalid);
  });

  it('accepts the scheme name in any case', async () => {
    const response = await api.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: `bearer ${alice.accessToken}` },
    });

    expect(response.statusCode).toBe(200);
    expect(response.headers['www-authenticate']).toBeUndefined();
  });

  it('checks the token before the body', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/conversations/direct',
      payload: { unexpected: true },
    });

    expect(response.statusCode).toBe(401);
  });
});
