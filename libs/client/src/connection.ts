import { decodeServerFrame, ErrorCode, type ClientFrame, type ServerFrame } from '@switchboard/protocol';
import { ServerProtocolError } from './errors.ts';
import { WEBSOCKET_OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket.ts';

/** Close code reported when the client itself gives up on a socket that went silent. */
export const ABNORMAL_CLOSE = 1006;

export interface ConnectionHandlers {
  onFrame(frame: ServerFrame): void;
  onInvalidFrame(error: ServerProtocolError): void;
  /** Called once, when the socket closed or was given up; never after `close()`. */
  onClose(code: number, reason: string): void;
}

export interface ConnectionOptions {
  /** Time allowed from creating the socket to its first frame (the welcome). */
  firstFrameTimeoutMs: number;
}

/**
 * One WebSocket to a chat node: decodes frames, keeps the heartbeat, and reports the close
 * exactly once. A new connection is made for every reconnect.
 */
export class Connection {
  readonly #socket: WebSocketLike;
  readonly #handlers: ConnectionHandlers;
  #finished = false;
  #lastReceivedAt = Date.now();
  #lastSentAt = Date.now();
  #firstFrameTimer: ReturnType<typeof setTimeout> | null;
  #heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  #closedPromise: Promise<void>;
  #resolveClosed!: () => void;

  constructor(
    WebSocketClass: WebSocketConstructor,
    url: string,
    handlers: ConnectionHandlers,
    options: ConnectionOptions,
  ) {
    this.#handlers = handlers;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#socket = new WebSocketClass(url);
    this.#socket.onmessage = (event) => this.#receive(event.data);
    this.#socket.onclose = (event) => {
      this.#resolveClosed();
      this.#finish(event.code, event.reason);
    };
    // Every implementation follows an error with a close event, which does the work.
    this.#socket.onerror = () => undefined;
    this.#firstFrameTimer = setTimeout(() => {
      this.#giveUp(`no frame from the node within ${options.firstFrameTimeoutMs} ms of connecting`);
    }, options.firstFrameTimeoutMs);
  }

  get isOpen(): boolean {
    return !this.#finished && this.#socket.readyState === WEBSOCKET_OPEN;
  }

  /** Writes one frame; returns false when the socket is not open. */
  send(frame: ClientFrame): boolean {
    if (!this.isOpen) return false;
    this.#socket.send(JSON.stringify(frame));
    this.#lastSentAt = Date.now();
    return true;
  }

  /**
   * Sends `ping` after `intervalMs` without sending anything, and gives the socket up when
   * nothing arrived for twice that long.
   */
  startHeartbeat(intervalMs: number): void {
    if (this.#heartbeatTimer !== null) clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = setInterval(
      () => {
        const now = Date.now();
        if (now - this.#lastReceivedAt >= 2 * intervalMs) {
          this.#giveUp(`no frame from the node for ${now - this.#lastReceivedAt} ms`);
        } else if (now - this.#lastSentAt >= intervalMs) {
          this.send({ type: 'ping' });
        }
      },
      Math.max(10, Math.floor(intervalMs / 2)),
    );
  }

  /**
   * Closes the socket without reporting it through `onClose`. Resolves when the socket has
   * closed, or after `timeoutMs`, when it is cut.
   */
  async close(code: number, reason: string, timeoutMs = 1000): Promise<void> {
    const alreadyFinished = this.#finished;
    this.#stop();
    if (alreadyFinished) return;
    try {
      this.#socket.close(code, reason);
    } catch {
      // A socket that is still connecting throws in some implementations; it is cut below.
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const hasTimedOut = await Promise.race([this.#closedPromise.then(() => false), timedOut]);
    clearTimeout(timer);
    if (hasTimedOut) this.#terminate();
  }

  #receive(data: unknown): void {
    if (this.#finished) return;
    this.#lastReceivedAt = Date.now();
    if (this.#firstFrameTimer !== null) {
      clearTimeout(this.#firstFrameTimer);
      this.#firstFrameTimer = null;
    }
    if (typeof data !== 'string') {
      this.#handlers.onInvalidFrame(
        new ServerProtocolError(
          ErrorCode.FrameBinary,
          'binary frame received, but the protocol uses JSON text frames',
        ),
      );
      return;
    }
    const result = decodeServerFrame(data);
    if (!result.ok) {
      this.#handlers.onInvalidFrame(new ServerProtocolError(result.code, result.message));
      return;
    }
    this.#handlers.onFrame(result.frame);
  }

  /** Abandons a socket that stopped responding and reports it as an abnormal close. */
  #giveUp(reason: string): void {
    if (this.#finished) return;
    try {
      this.#socket.close(1000, 'heartbeat timeout');
    } catch {
      // Closing may throw while connecting; the socket is cut below either way.
    }
    this.#terminate();
    this.#finish(ABNORMAL_CLOSE, reason);
  }

  #finish(code: number, reason: string): void {
    if (this.#finished) return;
    this.#stop();
    this.#handlers.onClose(code, reason);
  }

  #stop(): void {
    this.#finished = true;
    if (this.#firstFrameTimer !== null) clearTimeout(this.#firstFrameTimer);
    if (this.#heartbeatTimer !== null) clearInterval(this.#heartbeatTimer);
    this.#firstFrameTimer = null;
    this.#heartbeatTimer = null;
  }

  /** Cuts the TCP connection where the implementation allows it (`ws` does, browsers do not). */
  #terminate(): void {
    (this.#socket as { terminate?: () => void }).terminate?.();
  }
}
