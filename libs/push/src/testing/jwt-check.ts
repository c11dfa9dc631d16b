import { verify, type KeyObject } from 'node:crypto';

/** A JWT whose signature was verified; the claims still need checking by the caller. */
export interface VerifiedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/**
 * Verifies a compact JWS with node:crypto alone, independently of the JWT library that the
 * providers use. Returns the decoded token, or a message saying why it is invalid.
 */
export function verifyJwt(token: string, key: KeyObject, algorithm: 'ES256' | 'RS256'): VerifiedJwt | string {
  const parts = token.split('.');
  if (parts.length !== 3) return 'JWT must have three dot-separated parts';
  const [encodedHeader = '', encodedClaims = '', encodedSignature = ''] = parts;

  const header = decodeJsonPart(encodedHeader);
  const claims = decodeJsonPart(encodedClaims);
  if (header === undefined) return 'JWT header is not base64url JSON';
  if (claims === undefined) return 'JWT claims are not base64url JSON';
  if (header.alg !== algorithm) return `JWT alg must be ${algorithm}, got ${String(header.alg)}`;

  const signature = Buffer.from(encodedSignature, 'base64url');
  // ES256 signatures in a JWS are the raw r||s pair (RFC 7518 section 3.4), not DER.
  const valid = verify(
    'sha256',
    Buffer.from(`${encodedHeader}.${encodedClaims}`),
    algorithm === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key,
    signature,
  );
  if (!valid) return 'JWT signature does not verify';
  return { header, claims };
}

function decodeJsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
