import type { Session } from '@switchboard/client';
import type { KeyValueStorage } from './local-storage-state-store.ts';

/** Storage key of the session tokens. */
export const SESSION_KEY = 'switchboard.session';

/**
 * Reads the saved session, or returns null when there is none or it is malformed.
 *
 * Only a session with its user is accepted, because the app needs the user's id and name
 * before the first request.
 */
export function loadSession(storage: KeyValueStorage): Session | null {
  const text = storage.getItem(SESSION_KEY);
  if (text === null) return null;
  return parseSession(text);
}

/** Parses a saved session, for example the new value of a `storage` event from another tab. */
export function parseSession(text: string): Session | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const session = value as Partial<Session>;
  const user = session.user;
  const valid =
    typeof session.accessToken === 'string' &&
    typeof session.refreshToken === 'string' &&
    typeof user === 'object' &&
    user !== null &&
    typeof user.id === 'string' &&
    typeof user.username === 'string' &&
    typeof user.displayName === 'string';
  return valid ? (session as Session) : null;
}

export function saveSession(storage: KeyValueStorage, session: Session): void {
  storage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(storage: KeyValueStorage): void {
  storage.removeItem(SESSION_KEY);
}

/**
 * Reads the expiry (`exp`, seconds since the epoch) of an access token without verifying it,
 * or returns null when the token is not a JWT with a numeric `exp`. Only the timing of the
 * next refresh depends on it; the server verifies every token.
 */
export function readTokenExpiry(token: string): number | null {
  const payload = token.split('.')[1];
  if (payload === undefined) return null;
  try {
    const base64 = payload.replaceAll('-', '+').replaceAll('_', '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const claims: unknown = JSON.parse(atob(padded));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}
