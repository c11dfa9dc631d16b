import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@switchboard/protocol';
import { AuthError } from './errors.ts';
import { TokenIssuer } from './tokens.ts';

const SECRET = 'tokens-test-secret-tokens-test-secret-0123';
const issuer = new TokenIssuer({ secret: SECRET, accessTtlSeconds: 60, refreshTtlSeconds: 3600 });
const other = new TokenIssuer({ secret: `${SECRET}-other`, accessTtlSeconds: 60, refreshTtlSeconds: 3600 });

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Signs `claims` with the test secret as an HS256 JWT, with jose, as a third party could. */
function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', ...header })
    .sign(new TextEncoder().encode(SECRET));
}

/** Returns the error code that verifying `token` throws, or null when it passes. */
function codeOfNow(token: string | undefined): string | null {
  try {
    issuer.verifyAccessNow(token);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).code;
  }
}

async function codeOfAsync(token: string | undefined): Promise<string | null> {
  try {
    await issuer.verifyAccess(token);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).code;
  }
}

describe('TokenIssuer.verifyAccessNow', () => {
  it('returns the claims of a token it issued', async () => {
    const token = await issuer.issueAccess('u_alice');

    const claims = issuer.verifyAccessNow(token);

    expect(claims.sub).toBe('u_alice');
    expect(claims).toEqual(await issuer.verifyAccess(token));
  });

  it('rejects an expired token as expired', async () => {
    const token = await issuer.issueAccess('u_alice', Date.now() - 61_000);

    expect(codeOfNow(token)).toBe(ErrorCode.AuthTokenExpired);
  });

  it.each<[string, () => Promise<string | undefined>]>([
    ['no token', async () => undefined],
    ['an empty token', async () => ''],
    ['another secret', () => other.issueAccess('u_alice')],
    ['alg none', async () => `${encode({ alg: 'none' })}.${encode({ sub: 'u_alice', iss: 'switchboard' })}.`],
    [
      'a changed subject',
      async () => {
        const [header, , signature] = (await issuer.issueAccess('u_alice')).split('.');
        const payload = encode({ sub: 'u_mallory', iss: 'switchboard', exp: 4_000_000_000 });
        return `${header}.${payload}.${signature}`;
      },
    ],
    ['another issuer', () => sign({ sub: 'u_alice', iss: 'elsewhere', exp: 4_000_000_000 })],
    ['no subject', () => sign({ iss: 'switchboard', exp: 4_000_000_000 })],
    ['no expiry', () => sign({ sub: 'u_alice', iss: 'switchboard' })],
    [
      'a future nbf',
      () => sign({ sub: 'u_alice', iss: 'switchboard', exp: 4_000_000_000, nbf: 3_999_999_999 }),
    ],
    ['two parts', async () => 'abc.def'],
    ['a payload that is not JSON', async () => `${encode({ alg: 'HS256' })}.bm90IGpzb24.c2ln`],
  ])('gives the error code of verifyAccess for %s', async (_case, build) => {
    const token = await build();

    const code = codeOfNow(token);

    expect(code).not.toBeNull();
    expect(code).toBe(await codeOfAsync(token));
  });

  it.each<[string, () => Promise<string>]>([
    [
      'a critical header',
      async () => {
        const signed = `${encode({ alg: 'HS256', crit: ['x'], x: 1 })}.${encode({ sub: 'u_alice', iss: 'switchboard', exp: 4_000_000_000 })}`;
        return `${signed}.${createHmac('sha256', SECRET).update(signed).digest('base64url')}`;
      },
    ],
    ['a padded signature', async () => `${await issuer.issueAccess('u_alice')}=`],
  ])('rejects %s, which the issuer never writes', async (_case, build) => {
    expect(codeOfNow(await build())).toBe(ErrorCode.AuthTokenInvalid);
  });
});
