import { randomBytes } from 'node:crypto';
import type { UserRecord } from '@switchboard/core';

/** The fields of a user that other users and clients may see. */
export interface PublicUser {
  id: string;
  username: string;
  displayName: string;
}

/**
 * Generates a new user id: `u_` and 16 random bytes in base64url, 24 characters in all.
 *
 * The id matches the protocol's ID_PATTERN and contains no `.`, so it can be a part of a
 * direct conversation id.
 */
export function generateUserId(): string {
  return `u_${randomBytes(16).toString('base64url')}`;
}

/** Copies the public fields of a user record, leaving out the password hash. */
export function toPublicUser(user: UserRecord): PublicUser {
  return { id: user.id, username: user.username, displayName: user.displayName };
}
