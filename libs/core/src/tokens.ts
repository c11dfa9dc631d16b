import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { ErrorCode } from '@switchboard/protocol';
import { AuthError, ConfigError } from './errors.ts';

const ALGORITHM = 'HS256';
const ISSUER = 'switchboard';
const MIN_SECRET_BYTES = 32;

export interface AccessClaims {
  /** User id. */
  sub: string;
  /** Expiry in seconds since the epoch. */
  exp: number;
}

export interface TokenIssuerOptions {
  /** HMAC secret; at least 32 bytes. */
  secret: string | Uint8Array;
  /** Access token lifetime in seconds. */
  accessTtlSeconds: number;
  /** Refresh token lifetime in seconds. */
  refreshTtlSeconds: number;
}

/**
 * Signs and verifies access tokens (HS256 JWTs) and mints opaque refresh tokens.
 *
 * Verification accepts HS256 only, so `alg: none` and algorithm-confusion tokens fail.
 */
export class TokenIssuer {
  readonly accessTtlSeconds: number;
  readonly refreshTtlSeconds: number;
  readonly #key: Uint8Array;

  constructor(options: TokenIssuerOptions) {
    const key =
      typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret;
    if (key.length < MIN_SECRET_BYTES) {
      throw new ConfigError(
        'SWB_TOKEN_SECRET',
        `must be at least ${MIN_SECRET_BYTES} bytes, got ${key.length}`,
      );
    }
    if (!Number.isInteger(options.accessTtlSeconds) || options.accessTtlSeconds < 1) {
      throw new ConfigError('SWB_ACCESS_TTL_SECONDS', 'must be a positive integer');
    }
    if (!Number.isInteger(options.refreshTtlSeconds) || options.refreshTtlSeconds < 1) {
      throw new ConfigError('SWB_REFRESH_TTL_SECONDS', 'must be a positive integer');
    }
    this.#key = key;
    this.accessTtlSeconds = options.accessTtlSeconds;
    this.refreshTtlSeconds = options.refreshTtlSeconds;
  }

  /** Signs an access token for `userId` that expires after `accessTtlSeconds`. */
  async issueAccess(userId: string, nowMs = Date.now()): Promise<string> {
    const iat = Math.floor(nowMs / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.accessTtlSeconds)
      .sign(this.#key);
  }

  /** Verifies an access token and returns its claims, or throws an AuthError with a stable code. */
  async verifyAccess(token: string | undefined | null): Promise<AccessClaims> {
    if (token === undefined || token === null || token.length === 0) {
      throw new AuthError(ErrorCode.AuthTokenMissing, 'access token is missing');
    }
    try {
      const { payload } = await jwtVerify(token, this.#key, { algorithms: [ALGORITHM], issuer: ISSUER });
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') {
        throw new AuthError(ErrorCode.AuthTokenInvalid, 'access token lacks sub or exp');
      }
      return { sub: payload.sub, exp: payload.exp };
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) {
        throw new AuthError(ErrorCode.AuthTokenExpired, 'access token has expired; refresh it', {
          cause: err,
        });
      }
      throw new AuthError(ErrorCode.AuthTokenInvalid, 'access token is invalid', { cause: err });
    }
  }

  /**
   * Verifies an access token synchronously, with the checks and errors of `verifyAccess`.
   *
   * The chat node uses it to upgrade a WebSocket inside the upgrade handler, because
   * uWebSockets.js 20.30 can close a socket upgraded from an async callback inside `res.cork`.
   */
  verifyAccessNow(token: string | undefined | null, nowMs = Date.now()): AccessClaims {
    if (token === undefined || token === null || token.length === 0) {
      throw new AuthError(ErrorCode.AuthTokenMissing, 'access token is missing');
    }
    const invalid = (reason: string) =>
      new AuthError(ErrorCode.AuthTokenInvalid, 'access token is invalid', { cause: new Error(reason) });
    const parts = token.split('.');
    if (parts.length !== 3) throw invalid('not three dot-separated parts');
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];

    const signature = Buffer.from(encodedSignature, 'base64url');
    // Decoding skips characters outside base64url, so a signature must encode back to itself.
    if (signature.toString('base64url') !== encodedSignature) throw invalid('malformed signature');
    const expected = createHmac('sha256', this.#key).update(`${encodedHeader}.${encodedPayload}`).digest();
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw invalid('signature mismatch');
    }

    const header = decodeJsonPart(encodedHeader);
    if (header === null || header.alg !== ALGORITHM || header.crit !== undefined) {
      throw invalid('unexpected header');
    }
    const payload = decodeJsonPart(encodedPayload);
    if (payload === null || payload.iss !== ISSUER) throw invalid('unexpected issuer');
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') {
      throw new AuthError(ErrorCode.AuthTokenInvalid, 'access token lacks sub or exp');
    }
    const now = Math.floor(nowMs / 1000);
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now)) {
      throw invalid('not yet valid');
    }
    if (payload.iat !== undefined && typeof payload.iat !== 'number') throw invalid('malformed iat');
    if (payload.exp <= now) {
      throw new AuthError(ErrorCode.AuthTokenExpired, 'access token has expired; refresh it');
    }
    return { sub: payload.sub, exp: payload.exp };
  }

  /** Mints a random refresh token and returns it with the hash to store. */
  mintRefresh(nowMs = Date.now()): { token: string; hash: string; expiresAt: number } {
    const token = randomBytes(32).toString('base64url');
    return { token, hash: hashRefreshToken(token), expiresAt: nowMs + this.refreshTtlSeconds * 1000 };
  }
}

/** Hashes a refresh token for storage, so a leaked table holds no usable token. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Decodes one base64url JSON part of a JWT, or returns null when it is not a JSON object. */
function decodeJsonPart(encoded: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
