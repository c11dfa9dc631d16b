import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { UnavailableError } from './errors.ts';

// N=2^15, r=8, p=1 is the OWASP minimum for scrypt and needs 32 MiB per hash.
const COST = 1 << 15;
const BLOCK_SIZE = 8;
const PARALLELIZATION = 1;
const KEY_LENGTH = 32;
const MAX_MEMORY = 64 * 1024 * 1024;

// scrypt runs on libuv's thread pool (4 threads by default), which file writes and fsync of
// the durable log share. A burst of logins could fill the pool and stall every send, so at
// most two hashes run at once and a bounded queue waits for them.
const MAX_CONCURRENT_HASHES = 2;
const MAX_QUEUED_HASHES = 256;
let running = 0;
const queue: Array<() => void> = [];

async function scrypt(
  password: string,
  salt: Buffer,
  keyLength: number,
  options: ScryptOptions,
): Promise<Buffer> {
  if (running >= MAX_CONCURRENT_HASHES) {
    if (queue.length >= MAX_QUEUED_HASHES) {
      throw new UnavailableError('too many password checks in progress; retry in a moment');
    }
    await new Promise<void>((resolve) => queue.push(resolve));
  }
  running++;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scryptCallback(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
    });
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** Hashes a password with scrypt into `scrypt$N$r$p$salt$hash`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, {
    N: COST,
    r: BLOCK_SIZE,
    p: PARALLELIZATION,
    maxmem: MAX_MEMORY,
  });
  return [
    'scrypt',
    COST,
    BLOCK_SIZE,
    PARALLELIZATION,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/** Checks a password against a stored hash in constant time. Returns false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltText, hashText] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashText, 'base64url');
  const key = await scrypt(password, Buffer.from(saltText, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: MAX_MEMORY,
  });
  return timingSafeEqual(key, expected);
}
