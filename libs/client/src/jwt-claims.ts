/** Claims of an access token that the client reads: its user id and expiry. */
export interface AccessTokenClaims {
  /** User id. */
  sub?: string;
  /** Expiry in seconds since the epoch. */
  exp?: number;
}

/**
 * Reads the claims of a JWT without verifying it, or returns null if it is not a JWT.
 *
 * The client only uses them to know its own user id and to refresh before the expiry; the
 * server verifies the signature.
 */
export function readAccessTokenClaims(token: string): AccessTokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return null;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const json = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
    const claims: unknown = JSON.parse(json);
    if (typeof claims !== 'object' || claims === null) return null;
    const { sub, exp } = claims as Record<string, unknown>;
    return {
      ...(typeof sub === 'string' ? { sub } : {}),
      ...(typeof exp === 'number' ? { exp } : {}),
    };
  } catch {
    return null;
  }
}
