import WebSocket from 'ws';
import type { ServerFrame, WelcomeFrame } from '@switchboard/protocol';

/** Outcome of an upgrade attempt: an open socket, or the HTTP status and body of the rejection. */
export type UpgradeResult = { ok: true; socket: RawSocket } | { ok: false; status: number; body: string };

/**
 * A WebSocket client without the SDK, for tests that must send exactly the bytes they name.
 *
 * Frames are queued as they arrive, so a test can wait for the next frame of a type.
 */
export class RawSocket {
  readonly ws: WebSocket;
  readonly frames: ServerFrame[] = [];
  closeCode: number | null = null;
  readonly #waiters = new Set<() => void>();

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) throw new Error('the node sent a binary frame');
      this.frames.push(JSON.parse(data.toString()) as ServerFrame);
      this.#wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.#wake();
    });
  }

  /** Opens a socket to `url` with `token` in the query string (omitted when undefined). */
  static async open(
    url: string,
    token: string | undefined,
    headers: Record<string, string> = {},
  ): Promise<UpgradeResult> {
    const target = token === undefined ? url : `${url}?access_token=${encodeURIComponent(token)}`;
    const ws = new WebSocket(target, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ ok: true, socket: new RawSocket(ws) }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body }));
      });
      ws.once('error', reject);
    });
  }

  /**
   * Opens a socket to `url` as `token`'s user and waits for its welcome, as the SDK does.
   * A socket closed before its welcome, or without one within `welcomeTimeoutMs` (the SDK's
   * connect timeout), is dropped and a new one opened, up to `attempts` sockets in all.
   * Rejects when an upgrade is rejected or no socket receives a welcome.
   */
  static async openWelcomed(
    url: string,
    token: string,
    { attempts = 3, welcomeTimeoutMs = 10_000 } = {},
  ): Promise<{ socket: RawSocket; welcome: WelcomeFrame }> {
    const failures: string[] = [];
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const opened = await RawSocket.open(url, token);
      if (!opened.ok) throw new Error(`upgrade failed: ${opened.status} ${opened.body}`);
      try {
        const welcome = await opened.socket.next('welcome', () => true, welcomeTimeoutMs);
        return { socket: opened.socket, welcome };
      } catch (err) {
        opened.socket.ws.terminate();
        failures.push((err as Error).message);
        console.warn(`no welcome on socket ${attempt} of ${attempts} to ${url}: ${(err as Error).message}`);
      }
    }
    throw new Error(`no welcome from ${url} on ${attempts} sockets: ${failures.join('; ')}`);
  }

  sendJson(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendText(text: string | Buffer): void {
    this.ws.send(text, { binary: false });
  }

  /** Waits for the next unread frame matching `type` (and `predicate`) and removes it from the queue. */
  async next<T extends ServerFrame['type']>(
    type: T,
    predicate: (frame: Extract<ServerFrame, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerFrame, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(
        (frame) => frame.type === type && predicate(frame as Extract<ServerFrame, { type: T }>),
      );
      if (index >= 0) return this.frames.splice(index, 1)[0] as Extract<ServerFrame, { type: T }>;
      const seen = () =>
        this.frames.length === 0
          ? 'none'
          : `${this.frames.length}, first ${JSON.stringify(this.frames[0]).slice(0, 300)}`;
      // Every frame arrives before the close event, so none can come after it.
      if (this.closeCode !== null) {
        throw new Error(
          `socket closed with code ${this.closeCode} before a ${type} frame; queued: ${seen()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for a ${type} frame; queued: ${seen()}`);
      }
      await this.#wait(left);
    }
  }

  /** Waits until the node closes the socket and returns the close code. */
  async closed(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === null) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`socket still open after ${timeoutMs} ms`);
      await this.#wait(left);
    }
    return this.closeCode;
  }

  close(): void {
    this.ws.close();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
