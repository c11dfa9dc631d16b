import { ErrorCode, RETRYABLE_CODES } from '@switchboard/protocol';

/**
 * Base class of every error that Switchboard raises on purpose.
 *
 * `code` is stable and travels to clients in error frames and HTTP bodies. `httpStatus` is
 * the status an HTTP route answers with, and `retryable` tells a client whether the same
 * request may succeed later.
 */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, httpStatus: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SwitchboardError';
    this.code = code;
    this.httpStatus = httpStatus;
    this.retryable = RETRYABLE_CODES.has(code);
  }
}

export class InvalidRequestError extends SwitchboardError {
  constructor(code: ErrorCode, message: string) {
    super(code, message, 400);
    this.name = 'InvalidRequestError';
  }
}

export class AuthError extends SwitchboardError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, 401, options);
    this.name = 'AuthError';
  }
}

export class ForbiddenError extends SwitchboardError {
  constructor(message: string) {
    super(ErrorCode.ConversationForbidden, message, 403);
    this.name = 'ForbiddenError';
  }
}

export class NotFoundError extends SwitchboardError {
  constructor(code: ErrorCode, message: string) {
    super(code, message, 404);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends SwitchboardError {
  constructor(code: ErrorCode, message: string) {
    super(code, message, 409);
    this.name = 'ConflictError';
  }
}

/** A dependency failed. The caller may retry with the same ids; nothing was half-written. */
export class UnavailableError extends SwitchboardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Unavailable, message, 503, options);
    this.name = 'UnavailableError';
  }
}

/** A configuration value is missing or malformed; the service stops at start. */
export class ConfigError extends Error {
  readonly code = 'SWB_ERR_CONFIG_INVALID';
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}
