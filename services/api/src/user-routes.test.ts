import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '@switchboard/protocol';
import type { AuthSession } from './auth-routes.ts';
import { errorOf, injectAs, createTestUser, startTestApi, type TestApi } from './test-support.ts';
import type { PublicUser } from './user-records.ts';

describe('GET /v1/me', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startTestApi();
  });

  afterEach(async () => {
    await api.close();
  });

  it('returns the caller', async () => {
    const alice = await createTestUser(api, 'alice');
    await createTestUser(api, 'bob');

    const response = await injectAs(api.app, alice.accessToken, { method: 'GET', url: '/v1/me' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ id: alice.user.id, username: 'alice', displayName: 'alice' });
  });

  it('returns 404 for an unknown subject', async () => {
    const token = await api.tokens.issueAccess('u_ghost');

    const response = await injectAs(api.app, token, { method: 'GET', url: '/v1/me' });

    expect(response.statusCode).toBe(404);
    expect(errorOf(response).code).toBe(ErrorCode.UserNotFound);
  });
});

describe('GET /v1/users', () => {
  let api: TestApi;
  let alice: AuthSession;

  // The tests only read, so one app and its users serve them all.
  beforeAll(async () => {
    api = await startTestApi();
    alice = await createTestUser(api, 'alice');
    for (const name of ['albert', 'alfred', 'bob', 'al_x']) {
      await createTestUser(api, name);
    }
  });

  afterAll(async () => {
    await api.close();
  });

  function search(url: string) {
    return injectAs(api.app, alice.accessToken, { method: 'GET', url });
  }

  function namesOf(body: { users: PublicUser[] }): string[] {
    return body.users.map((user) => user.username);
  }

  it('lists users by name prefix in name order', async () => {
    const response = await search('/v1/users?prefix=al');

    expect(response.statusCode).toBe(200);
    expect(namesOf(response.json())).toEqual(['al_x', 'albert', 'alfred', 'alice']);
  });

  it('names an unknown query parameter', async () => {
    const response = await search('/v1/users?q=al');

    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('SWB_ERR_REQUEST_INVALID');
    expect(response.json().error.message).toContain('"q" is not one of them');
  });

  it('matches the prefix case-insensitively', async () => {
    const response = await search('/v1/users?prefix=ALF');

    expect(namesOf(response.json())).toEqual(['alfred']);
  });

  it('treats _ in the prefix as a literal character', async () => {
    const response = await search('/v1/users?prefix=al_');

    expect(namesOf(response.json())).toEqual(['al_x']);
  });

  it('lists every user for an empty prefix', async () => {
    const response = await search('/v1/users');

    expect(namesOf(response.json())).toHaveLength(5);
  });

  it('honours the limit', async () => {
    const response = await search('/v1/users?prefix=al&limit=2');

    expect(namesOf(response.json())).toEqual(['al_x', 'albert']);
  });

  it('returns only public fields', async () => {
    const response = await search('/v1/users?prefix=a');

    expect(response.body).not.toContain('scrypt');
    for (const user of response.json<{ users: PublicUser[] }>().users) {
      expect(Object.keys(user).sort()).toEqual(['displayName', 'id', 'username']);
    }
  });

  it.each([
    ['limit 0', '/v1/users?limit=0'],
    ['limit 51', '/v1/users?limit=51'],
    ['a fractional limit', '/v1/users?limit=2.5'],
    ['a text limit', '/v1/users?limit=many'],
    ['a prefix with a space', '/v1/users?prefix=a%20b'],
    ['a prefix with %', '/v1/users?prefix=a%25'],
    ['a prefix of 33 characters', `/v1/users?prefix=${'a'.repeat(33)}`],
    ['an unknown parameter', '/v1/users?prefix=a&sort=desc'],
  ])('rejects %s with 400', async (_case, url) => {
    const response = await search(url);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
  });
});
