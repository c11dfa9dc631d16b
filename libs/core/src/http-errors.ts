import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode, RETRYABLE_CODES } from '@switchboard/protocol';
import { SwitchboardError } from './errors.ts';

/** JSON schema of every HTTP error body, for the `4xx` and `5xx` entries of a route's response schema. */
export const ERROR_RESPONSE_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'retryable'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        retryable: { type: 'boolean' },
      },
    },
  },
} as const;

/** Body of every HTTP error response. */
export interface ErrorResponseBody {
  error: { code: ErrorCode; message: string; retryable: boolean };
}

// The few members of fastify's request, reply and instance that the handlers use. Structural
// types keep libs/core free of a fastify dependency, and a FastifyInstance satisfies them.
interface RequestLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

interface HttpRequestLike {
  method: string;
  url: string;
  log: RequestLogger;
}

interface HttpReplyLike {
  status(statusCode: number): HttpReplyLike;
  send(payload?: unknown): unknown;
}

/** The part of a fastify instance that `registerErrorHandler` calls. */
export interface ErrorHandlerHost {
  setErrorHandler(
    handler: (error: unknown, request: HttpRequestLike, reply: HttpReplyLike) => unknown,
  ): unknown;
  setNotFoundHandler(handler: (request: HttpRequestLike, reply: HttpReplyLike) => unknown): unknown;
}

/**
 * Installs the error and not-found handlers that turn every failure into
 * `{ error: { code, message, retryable } }`.
 *
 * - A SwitchboardError responds with its own status and code.
 * - A schema validation failure responds with 400 SWB_ERR_REQUEST_INVALID.
 * - Other fastify client errors (malformed JSON, body too large) keep their 4xx status and
 *   respond with SWB_ERR_REQUEST_INVALID.
 * - An unknown route responds with 404 SWB_ERR_NOT_FOUND.
 * - Anything else responds with 500 SWB_ERR_INTERNAL without details and is logged at error.
 *
 * Call it once on the root instance before registering route plugins, because fastify allows
 * one not-found handler per prefix and child plugins inherit the error handler.
 */
export function registerErrorHandler(app: ErrorHandlerHost): void {
  app.setErrorHandler((error, request, reply) => {
    const { statusCode, body } = describeError(error);
    if (statusCode >= 500 && body.error.code === ErrorCode.Internal) {
      request.log.error({ err: error }, 'request failed');
    } else if (statusCode >= 500) {
      request.log.warn({ err: error, code: body.error.code }, 'request failed');
    } else {
      request.log.debug({ code: body.error.code, statusCode }, 'request rejected');
    }
    return reply.status(statusCode).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    // Leave out the query string, because it may carry an access token.
    const path = request.url.split('?', 1)[0];
    return reply
      .status(404)
      .send(buildErrorBody(ErrorCode.NotFound, `no route for ${request.method} ${path}`));
  });
}

/**
 * Replies to bytes that Node's HTTP parser rejected (a malformed request line or header, headers
 * too large) with the same error body as every other failure, then closes the connection.
 * Pass it as fastify's `clientErrorHandler` option. No request exists yet, so nothing is logged.
 */
export function handleClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const statusCode = clientErrorStatus(error.code);
  const body = JSON.stringify(
    buildErrorBody(ErrorCode.RequestInvalid, `malformed HTTP request (${error.code ?? 'no code'})`),
  );
  socket.end(
    `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function clientErrorStatus(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

/** Builds an error body whose `retryable` flag follows the code. */
export function buildErrorBody(code: ErrorCode, message: string): ErrorResponseBody {
  return { error: { code, message, retryable: RETRYABLE_CODES.has(code) } };
}

function describeError(error: unknown): { statusCode: number; body: ErrorResponseBody } {
  if (error instanceof SwitchboardError) {
    return {
      statusCode: error.httpStatus,
      body: { error: { code: error.code, message: error.message, retryable: error.retryable } },
    };
  }

  if (!(error instanceof Error)) {
    return { statusCode: 500, body: buildErrorBody(ErrorCode.Internal, 'internal server error') };
  }

  const { statusCode, validation } = error as Error & { statusCode?: unknown; validation?: unknown };
  if (validation !== undefined) {
    return {
      statusCode: 400,
      body: buildErrorBody(ErrorCode.RequestInvalid, describeValidation(error.message, validation)),
    };
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { statusCode, body: buildErrorBody(clientErrorCode(statusCode), error.message) };
  }
  return { statusCode: 500, body: buildErrorBody(ErrorCode.Internal, 'internal server error') };
}

/** Adds the name of an unknown property to Ajv's message, which leaves it out. */
function describeValidation(message: string, validation: unknown): string {
  const first: unknown = Array.isArray(validation) ? validation[0] : undefined;
  const { keyword, params } = (first ?? {}) as {
    keyword?: unknown;
    params?: { additionalProperty?: unknown };
  };
  const property = keyword === 'additionalProperties' ? params?.additionalProperty : undefined;
  return typeof property === 'string' ? `${message}; "${property}" is not one of them` : message;
}

function clientErrorCode(statusCode: number): ErrorCode {
  if (statusCode === 404) return ErrorCode.NotFound;
  if (statusCode === 429) return ErrorCode.RateLimited;
  return ErrorCode.RequestInvalid;
}
