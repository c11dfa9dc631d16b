import { strict as assert } from 'node:assert';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@switchboard/protocol';
import { AuthError, type TokenIssuer } from '@switchboard/core';

// The caller of each authenticated request, kept beside the request rather than as a
// request decoration, so this plugin cannot clash with decorations of a host app.
const callers = new WeakMap<FastifyRequest, string>();

const BEARER_PATTERN = /^Bearer +([^ ]+) *$/i;

/**
 * Builds the `onRequest` hook of the routes behind bearer authentication.
 *
 * The hook runs before body parsing and validation, so a request without a valid access
 * token gets a 401 whatever its body contains.
 */
export function buildAuthenticateHook(tokens: TokenIssuer) {
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    // Bearer-token clients expect a 401 to name the scheme in WWW-Authenticate (RFC 6750).
    reply.header('www-authenticate', 'Bearer realm="switchboard"');

    const claims = await tokens.verifyAccess(readBearerToken(request.headers.authorization));

    reply.removeHeader('www-authenticate');
    callers.set(request, claims.sub);
  };
}

/** Returns the user id of an authenticated request. */
export function callerId(request: FastifyRequest): string {
  const id = callers.get(request);
  assert(id !== undefined, 'route is registered without the bearer authentication hook');
  return id;
}

function readBearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length === 0) return undefined;

  const match = BEARER_PATTERN.exec(header);
  if (match === null) {
    throw new AuthError(
      ErrorCode.AuthTokenInvalid,
      'Authorization header is invalid. Expected "Bearer <access token>"',
    );
  }
  return match[1];
}
