import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, ID_PATTERN } from '@switchboard/protocol';
import type { AuthSession } from './auth-routes.ts';
import { API_BODY_LIMIT_BYTES } from './schemas.ts';
import { errorOf, injectAs, registerUser, startTestApi, type TestApi } from './test-support.ts';

const PASSWORD = 'correct horse battery';

describe('POST /v1/auth/register', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startTestApi();
  });

  afterEach(async () => {
    await api.close();
  });

  it('creates a user and returns a session', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { username: 'alice', password: PASSWORD },
    });

    expect(response.statusCode).toBe(201);
    const session = response.json<AuthSession>();
    expect(session.user.id).toMatch(ID_PATTERN);
    expect(session.user.id).toMatch(/^u_[A-Za-z0-9_-]{22}$/);
    expect(session.user.username).toBe('alice');
    expect(session.user.displayName).toBe('alice');
    expect(session.expiresIn).toBe(900);
    expect(session.refreshToken.length).toBeGreaterThan(20);
    const claims = await api.tokens.verifyAccess(session.accessToken);
    expect(claims.sub).toBe(session.user.id);
  });

  it('stores a scrypt hash and never returns it', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { username: 'alice', password: PASSWORD },
    });

    const stored = await api.store.findUserByName('alice');
    expect(stored?.passwordHash).toMatch(/^scrypt\$/);
    expect(stored?.passwordHash).not.toContain(PASSWORD);
    expect(response.body).not.toContain('scrypt');
    expect(response.body).not.toContain('passwordHash');
    expect(Object.keys(response.json<AuthSession>().user).sort()).toEqual(['displayName', 'id', 'username']);
  });

  it('stores the name lower-case', async () => {
    const session = await registerUser(api.app, 'Alice.B-9_x');

    expect(session.user.username).toBe('alice.b-9_x');
    expect((await api.store.findUserByName('alice.b-9_x'))?.id).toBe(session.user.id);
  });

  it('keeps a trimmed display name', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { username: 'alice', password: PASSWORD, displayName: '  Alice Liddell ' },
    });

    expect(response.statusCode).toBe(201);
    expect(response.json<AuthSession>().user.displayName).toBe('Alice Liddell');
  });

  it('gives each user a distinct id', async () => {
    const alice = await registerUser(api.app, 'alice');
    const bob = await registerUser(api.app, 'bob');

    expect(alice.user.id).not.toBe(bob.user.id);
  });

  it('rejects a taken name in any case', async () => {
    await registerUser(api.app, 'alice');

    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { username: 'ALICE', password: 'another password' },
    });

    expect(response.statusCode).toBe(409);
    expect(errorOf(response).code).toBe(ErrorCode.UsernameTaken);
    expect(errorOf(response).retryable).toBe(false);
  });

  it.each<[string, unknown]>([
    ['missing username', { password: PASSWORD }],
    ['missing password', { username: 'alice' }],
    ['numeric username', { username: 12345, password: PASSWORD }],
    ['numeric password', { username: 'alice', password: 12345678 }],
    ['boolean display name', { username: 'alice', password: PASSWORD, displayName: true }],
    ['username of 2 characters', { username: 'ab', password: PASSWORD }],
    ['username of 33 characters', { username: 'a'.repeat(33), password: PASSWORD }],
    ['username with a space', { username: 'al ice', password: PASSWORD }],
    ['username with @', { username: 'al@ice', password: PASSWORD }],
    ['username with non-ASCII letters', { username: 'ålice', password: PASSWORD }],
    ['password of 7 characters', { username: 'alice', password: '1234567' }],
    ['password of 129 characters', { username: 'alice', password: 'p'.repeat(129) }],
    ['empty display name', { username: 'alice', password: PASSWORD, displayName: '' }],
    ['blank display name', { username: 'alice', password: PASSWORD, displayName: '   ' }],
    ['zero-width display name', { username: 'alice', password: PASSWORD, displayName: '\u200b' }],
    ['display name with a newline', { username: 'alice', password: PASSWORD, displayName: 'Al\nice' }],
    ['display name with an override', { username: 'alice', password: PASSWORD, displayName: 'Al\u202eice' }],
    ['display name of 65 characters', { username: 'alice', password: PASSWORD, displayName: 'd'.repeat(65) }],
    ['extra field', { username: 'alice', password: PASSWORD, admin: true }],
    ['array body', [{ username: 'alice', password: PASSWORD }]],
    ['null body', null],
  ])('rejects %s with 400', async (_case, payload) => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
    expect(await api.store.findUserByName('alice')).toBeNull();
  });

  it('rejects malformed JSON with 400', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"username": "alice",',
    });

    expect(response.statusCode).toBe(400);
  });

  it('rejects a body over the size limit with 413', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { username: 'alice', password: PASSWORD, displayName: 'x'.repeat(API_BODY_LIMIT_BYTES) },
    });

    expect(response.statusCode).toBe(413);
    expect(errorOf(response).code).toBeTypeOf('string');
    expect(await api.store.findUserByName('alice')).toBeNull();
  });

  it('rejects a form-encoded body with 415', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=alice&password=correct+horse+battery',
    });

    expect(response.statusCode).toBe(415);
    expect(await api.store.findUserByName('alice')).toBeNull();
  });

  it('rejects a plain-text body with 400', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify({ username: 'alice', password: PASSWORD }),
    });

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
  });
});

describe('POST /v1/auth/login', () => {
  let api: TestApi;
  let alice: AuthSession;

  // Login changes no user, so one app and one registration serve every case.
  beforeAll(async () => {
    api = await startTestApi();
    alice = await registerUser(api.app, 'alice', PASSWORD);
  });

  afterAll(async () => {
    await api.close();
  });

  it('returns a session for the right password', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'alice', password: PASSWORD },
    });

    expect(response.statusCode).toBe(200);
    const session = response.json<AuthSession>();
    expect(session.user).toEqual(alice.user);
    expect(session.refreshToken).not.toBe(alice.refreshToken);
    expect((await api.tokens.verifyAccess(session.accessToken)).sub).toBe(alice.user.id);
  });

  it('matches the name case-insensitively', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'AlIcE', password: PASSWORD },
    });

    expect(response.statusCode).toBe(200);
    expect(response.json<AuthSession>().user.id).toBe(alice.user.id);
  });

  it('rejects bad password and name alike', async () => {
    const wrongPassword = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'alice', password: 'wrong password' },
    });
    const unknownName = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'nobody', password: PASSWORD },
    });

    expect(wrongPassword.statusCode).toBe(401);
    expect(unknownName.statusCode).toBe(401);
    expect(errorOf(wrongPassword).code).toBe(ErrorCode.AuthInvalidCredentials);
    expect(errorOf(unknownName).code).toBe(ErrorCode.AuthInvalidCredentials);
    expect(errorOf(unknownName).message).toBe(errorOf(wrongPassword).message);
    expect(unknownName.body).toBe(wrongPassword.body);
  });

  it('hashes a password for an unknown name too', async () => {
    // A store lookup alone takes well under a millisecond. One scrypt verify with the
    // production parameters (N=2^15, r=8, 32 MiB) took about 100 ms on a 2-core Xeon VM,
    // so 15 ms leaves a wide margin for faster machines (an estimate, not a measurement).
    const started = performance.now();
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'nobody', password: PASSWORD },
    });
    const elapsedMs = performance.now() - started;

    expect(response.statusCode).toBe(401);
    expect(elapsedMs).toBeGreaterThan(15);
  });

  it.each<[string, unknown]>([
    ['missing username', { password: PASSWORD }],
    ['missing password', { username: 'alice' }],
    ['numeric username', { username: 1, password: PASSWORD }],
    ['array password', { username: 'alice', password: [PASSWORD] }],
    ['empty username', { username: '', password: PASSWORD }],
    ['empty password', { username: 'alice', password: '' }],
    ['username of 33 characters', { username: 'a'.repeat(33), password: PASSWORD }],
    ['password of 129 characters', { username: 'alice', password: 'p'.repeat(129) }],
    ['extra field', { username: 'alice', password: PASSWORD, remember: true }],
  ])('rejects %s with 400', async (_case, payload) => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: payload as object,
    });

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
  });

  it('rejects a body over the size limit with 413', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'alice', password: 'p'.repeat(API_BODY_LIMIT_BYTES + 1) },
    });

    expect(response.statusCode).toBe(413);
  });
});

describe('POST /v1/auth/refresh', () => {
  let api: TestApi;
  let clockOffsetMs: number;

  beforeEach(async () => {
    clockOffsetMs = 0;
    api = await startTestApi({ now: () => Date.now() + clockOffsetMs, refreshTtlSeconds: 60 });
  });

  afterEach(async () => {
    await api.close();
  });

  function refresh(refreshToken: unknown) {
    return api.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });
  }

  it('rotates both tokens', async () => {
    const alice = await registerUser(api.app, 'alice');

    const response = await refresh(alice.refreshToken);

    expect(response.statusCode).toBe(200);
    const session = response.json<AuthSession>();
    expect(session.user).toEqual(alice.user);
    expect(session.refreshToken).not.toBe(alice.refreshToken);
    expect(session.expiresIn).toBe(900);
    const me = await injectAs(api.app, session.accessToken, { method: 'GET', url: '/v1/me' });
    expect(me.statusCode).toBe(200);
    expect((await refresh(session.refreshToken)).statusCode).toBe(200);
  });

  it('rejects a refresh token used twice', async () => {
    const alice = await registerUser(api.app, 'alice');
    expect((await refresh(alice.refreshToken)).statusCode).toBe(200);

    const reuse = await refresh(alice.refreshToken);

    expect(reuse.statusCode).toBe(401);
    expect(errorOf(reuse).code).toBe(ErrorCode.AuthRefreshInvalid);
  });

  it('rejects an expired refresh token', async () => {
    const alice = await registerUser(api.app, 'alice');
    clockOffsetMs = 61_000;

    const response = await refresh(alice.refreshToken);

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthRefreshInvalid);
  });

  it('accepts a refresh token just before expiry', async () => {
    const alice = await registerUser(api.app, 'alice');
    clockOffsetMs = 55_000;

    expect((await refresh(alice.refreshToken)).statusCode).toBe(200);
  });

  it('rejects an unknown refresh token', async () => {
    await registerUser(api.app, 'alice');

    const response = await refresh('bm90LWEtcmVhbC10b2tlbg');

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthRefreshInvalid);
  });

  it('rejects an access token', async () => {
    const alice = await registerUser(api.app, 'alice');

    const response = await refresh(alice.accessToken);

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe(ErrorCode.AuthRefreshInvalid);
  });

  it.each<[string, unknown]>([
    ['missing token', {}],
    ['numeric token', { refreshToken: 42 }],
    ['null token', { refreshToken: null }],
    ['empty token', { refreshToken: '' }],
    ['token of 257 characters', { refreshToken: 't'.repeat(257) }],
    ['extra field', { refreshToken: 'abc', userId: 'u_1' }],
  ])('rejects %s with 400', async (_case, payload) => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: payload as object,
    });

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
  });

  it('rejects a body over the size limit with 413', async () => {
    const response = await refresh('t'.repeat(API_BODY_LIMIT_BYTES + 1));

    expect(response.statusCode).toBe(413);
  });
});
