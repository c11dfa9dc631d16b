import { randomBytes } from 'node:crypto';

/** Header that carries a request id from a caller (a proxy, a client) and back in the response. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller's id is kept only when it is a short token, so it cannot forge log fields or lines. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const PROCESS_PREFIX = randomBytes(4).toString('hex');
let counter = 0;

/**
 * Returns the request id of an HTTP request, for fastify's `genReqId`: the caller's
 * `X-Request-Id` when it is a short token, else a new id unique across processes (a random
 * per-process prefix and a counter).
 */
export function generateRequestId(request: {
  headers: Record<string, string | string[] | undefined>;
}): string {
  const given = request.headers[REQUEST_ID_HEADER];
  if (typeof given === 'string' && REQUEST_ID_PATTERN.test(given)) return given;
  counter++;
  return `${PROCESS_PREFIX}-${counter.toString(36)}`;
}
