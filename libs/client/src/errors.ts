import type { ErrorFrame } from '@switchboard/protocol';

/**
 * Base class of the errors that the client raises on purpose.
 *
 * `code` is a stable string: a server code (`SWB_ERR_*` from the protocol) when the server
 * rejected the request, or a `SWB_ERR_CLIENT_*` code for failures found by the client.
 * `retryable` is true when the same request may succeed later.
 */
export class SwitchboardClientError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SwitchboardClientError';
    this.code = code;
    this.retryable = retryable;
  }
}

/** An option passed to the client is missing or malformed. */
export class ClientConfigError extends SwitchboardClientError {
  readonly option: string;

  constructor(option: string, message: string) {
    super('SWB_ERR_CLIENT_CONFIG_INVALID', `option ${option}: ${message}`, false);
    this.name = 'ClientConfigError';
    this.option = option;
  }
}

/** The HTTP API returned an error status. `code` is the server's error code. */
export class ApiError extends SwitchboardClientError {
  readonly status: number;

  constructor(status: number, code: string, message: string, retryable: boolean) {
    super(code, message, retryable);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** An HTTP request or WebSocket connection failed before any response arrived. */
export class NetworkError extends SwitchboardClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SWB_ERR_CLIENT_NETWORK', message, true, options);
    this.name = 'NetworkError';
  }
}

/** A call needs a session, but neither login, register nor useSession has provided one. */
export class NoSessionError extends SwitchboardClientError {
  constructor() {
    super('SWB_ERR_CLIENT_NO_SESSION', 'no session: call login, register or useSession first', false);
    this.name = 'NoSessionError';
  }
}

/** The server rejected a sent message with an error frame that is not retryable. */
export class SendRejectedError extends SwitchboardClientError {
  /** Client message id of the rejected message. */
  readonly messageId: string;
  readonly frame: ErrorFrame;

  constructor(messageId: string, frame: ErrorFrame) {
    super(frame.code, `message ${messageId} rejected: ${frame.message}`, false);
    this.name = 'SendRejectedError';
    this.messageId = messageId;
    this.frame = frame;
  }
}

/** An error frame from the node that matches no pending send. */
export class ServerFrameError extends SwitchboardClientError {
  readonly frame: ErrorFrame;

  constructor(frame: ErrorFrame) {
    super(frame.code, frame.message, frame.retryable);
    this.name = 'ServerFrameError';
    this.frame = frame;
  }
}

/** A frame from the node could not be decoded; the client ignores it. */
export class ServerProtocolError extends SwitchboardClientError {
  constructor(code: string, message: string) {
    super(code, `invalid frame from node: ${message}`, false);
    this.name = 'ServerProtocolError';
  }
}

/** The client was closed with `close()`, so a pending call cannot finish. */
export class ClientClosedError extends SwitchboardClientError {
  constructor() {
    super('SWB_ERR_CLIENT_CLOSED', 'client closed', false);
    this.name = 'ClientClosedError';
  }
}

/**
 * The node closed the connection with a code after which the client must not reconnect
 * (4006, protocol violation), or the session could not be renewed.
 */
export class ConnectionStoppedError extends SwitchboardClientError {
  readonly closeCode: number;
  readonly reason: string;

  constructor(closeCode: number, reason: string, options?: { cause?: unknown }) {
    super(
      'SWB_ERR_CLIENT_STOPPED',
      `connection stopped with close code ${closeCode}${reason === '' ? '' : `: ${reason}`}`,
      false,
      options,
    );
    this.name = 'ConnectionStoppedError';
    this.closeCode = closeCode;
    this.reason = reason;
  }
}
