import { USER_PREFIX_LENGTH, USER_PREFIX_SHARDS } from './schema.ts';

/** The highest code point, so that `prefix + MAX_CHAR` sorts after every name with that prefix. */
export const MAX_CHAR = '\u{10FFFF}';

/** Returns the users_by_prefix partition prefix of a lower-case name or search prefix. */
export function buildPrefixKey(name: string): string {
  return Array.from(name).slice(0, USER_PREFIX_LENGTH).join('');
}

/**
 * Returns the users_by_prefix shard of a lower-case name: 32-bit FNV-1a of its UTF-8 bytes.
 *
 * Stored rows were placed by this function, so changing it hides them from search.
 */
export function buildPrefixShard(name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(name, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % USER_PREFIX_SHARDS;
}
