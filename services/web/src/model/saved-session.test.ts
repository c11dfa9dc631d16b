import { describe, expect, it } from 'vitest';
import { clearSession, loadSession, parseSession, saveSession, SESSION_KEY } from './saved-session.ts';
import { MemoryStorage } from './memory-storage.ts';

const session = {
  user: { id: 'u_a', username: 'alice', displayName: 'Alice' },
  accessToken: 'access',
  refreshToken: 'refresh',
  expiresIn: 900,
};

describe('saved session', () => {
  it('round-trips through storage', () => {
    const storage = new MemoryStorage();
    saveSession(storage, session);
    expect(loadSession(storage)).toEqual(session);
    clearSession(storage);
    expect(loadSession(storage)).toBeNull();
  });

  it.each([
    ['not JSON', 'nope'],
    ['without user', JSON.stringify({ accessToken: 'a', refreshToken: 'r' })],
    ['without refresh token', JSON.stringify({ ...session, refreshToken: undefined })],
    ['with a user lacking a name', JSON.stringify({ ...session, user: { id: 'u_a' } })],
  ])('rejects a session %s', (_case, text) => {
    expect(parseSession(text)).toBeNull();
    const storage = new MemoryStorage();
    storage.setItem(SESSION_KEY, text);
    expect(loadSession(storage)).toBeNull();
  });
});
