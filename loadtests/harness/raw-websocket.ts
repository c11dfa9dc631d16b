/**
 * A minimal RFC 6455 client on a bare TCP socket, for load generation.
 *
 * It keeps a socket, a parse buffer and two callbacks per connection and nothing else, so one
 * worker process can keep tens of thousands of connections open. It sends masked text frames,
 * replies to pings, reassembles fragmented messages, and supports no extensions (it offers none,
 * so a server must not use compression).
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPCODE_CONTINUATION = 0x0;
const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
/** Largest upgrade response header accepted, in bytes. */
const MAX_HEADER_BYTES = 16 * 1024;

export interface RawWebSocketOptions {
  /** ws:// URL including path and query. */
  url: string;
  /** Source address to bind, such as 127.0.0.2, so ephemeral ports of one address never run out. */
  localAddress?: string;
  /** Extra upgrade request headers. */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * An open client connection. Messages that arrive before `onText` is set are kept and handed
 * over when it is, since a server may send its first frame with the upgrade response. A close
 * that happened before `onClose` is set is reported when it is.
 */
export class RawWebSocket {
  #onClose: ((code: number) => void) | null = null;
  #closeCode: number | null = null;
  #onText: ((text: string) => void) | null = null;
  #early: string[] = [];
  readonly #socket: Socket;
  #buffer: Buffer;
  #fragments: Buffer[] = [];
  #closed = false;

  constructor(socket: Socket, rest: Buffer) {
    this.#socket = socket;
    this.#buffer = rest;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
    socket.on('close', () => this.#finish(1006));
    socket.on('error', () => this.#finish(1006));
    this.#parse();
  }

  set onClose(handler: (code: number) => void) {
    this.#onClose = handler;
    if (this.#closeCode !== null) handler(this.#closeCode);
  }

  set onText(handler: (text: string) => void) {
    this.#onText = handler;
    const early = this.#early;
    this.#early = [];
    for (const text of early) handler(text);
  }

  get open(): boolean {
    return !this.#closed;
  }

  /** Bytes written but not yet flushed to the kernel. */
  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  sendText(text: string): void {
    if (this.#closed) return;
    this.#socket.write(encodeFrame(OPCODE_TEXT, Buffer.from(text)));
  }

  /** Sends a close frame and ends the socket. */
  close(code = 1000): void {
    if (this.#closed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.#socket.end(encodeFrame(OPCODE_CLOSE, payload));
    this.#finish(code);
  }

  /** Cuts the TCP connection without a close frame, as a crashed client would. */
  destroy(): void {
    this.#socket.destroy();
    this.#finish(1006);
  }

  #finish(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeCode = code;
    this.#onClose?.(code);
  }

  #parse(): void {
    for (;;) {
      const buffer = this.#buffer;
      if (buffer.length < 2) return;
      const fin = (buffer[0]! & 0x80) !== 0;
      const opcode = buffer[0]! & 0x0f;
      const masked = (buffer[1]! & 0x80) !== 0;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const maskBytes = masked ? 4 : 0;
      if (buffer.length < offset + maskBytes + length) return;
      let payload = buffer.subarray(offset + maskBytes, offset + maskBytes + length);
      if (masked) {
        const mask = buffer.subarray(offset, offset + 4);
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      }
      this.#buffer = buffer.subarray(offset + maskBytes + length);
      this.#handleFrame(fin, opcode, payload);
      if (this.#closed) return;
    }
  }

  #handleFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OPCODE_PING:
        this.#socket.write(encodeFrame(OPCODE_PONG, payload));
        return;
      case OPCODE_PONG:
        return;
      case OPCODE_CLOSE: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.#socket.end(encodeFrame(OPCODE_CLOSE, payload.subarray(0, 2)));
        this.#finish(code);
        return;
      }
      case OPCODE_TEXT:
      case OPCODE_BINARY:
      case OPCODE_CONTINUATION:
        if (!fin) {
          this.#fragments.push(Buffer.from(payload));
          return;
        }
        if (this.#fragments.length > 0) {
          this.#fragments.push(payload);
          payload = Buffer.concat(this.#fragments);
          this.#fragments = [];
        }
        if (this.#onText === null) this.#early.push(payload.toString('utf8'));
        else this.#onText(payload.toString('utf8'));
        return;
      default:
        this.destroy();
    }
  }
}

/** Error of a rejected upgrade, with the HTTP status of the server's response. */
export class UpgradeRejectedError extends Error {
  readonly status: number;

  constructor(status: number, body: string) {
    super(`WebSocket upgrade rejected with HTTP ${status}: ${body.slice(0, 200)}`);
    this.name = 'UpgradeRejectedError';
    this.status = status;
  }
}

/** Opens a connection and resolves once the server accepted the upgrade with 101. */
export function openRawWebSocket(options: RawWebSocketOptions): Promise<RawWebSocket> {
  const url = new URL(options.url);
  if (url.protocol !== 'ws:') throw new Error(`only ws:// URLs are supported, got ${options.url}`);
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1')
    .update(key + GUID)
    .digest('base64');
  const headers = {
    Host: url.host,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  };
  const request =
    `GET ${url.pathname}${url.search} HTTP/1.1\r\n` +
    Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('') +
    '\r\n';

  return new Promise((resolve, reject) => {
    const socket = connect({
      host: url.hostname,
      port: Number(url.port || 80),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    socket.setNoDelay(true);
    let header = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`WebSocket upgrade to ${url.host} timed out after ${options.timeoutMs ?? 30_000} ms`));
    }, options.timeoutMs ?? 30_000);

    const onData = (chunk: Buffer) => {
      header = Buffer.concat([header, chunk]);
      const end = header.indexOf('\r\n\r\n');
      if (end < 0) {
        if (header.length > MAX_HEADER_BYTES) fail(new Error('upgrade response header too large'));
        return;
      }
      const head = header.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      if (status !== 101) {
        fail(new UpgradeRejectedError(status, header.subarray(end + 4).toString('utf8')));
        return;
      }
      if (!head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)) {
        fail(new Error('upgrade response carries a wrong Sec-WebSocket-Accept'));
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      resolve(new RawWebSocket(socket, header.subarray(end + 4)));
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('connect', () => socket.write(request));
  });
}

/** Encodes one masked client frame. */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  let extended = 8;
  if (length < 126) extended = 0;
  else if (length < 65536) extended = 2;
  const frame = Buffer.allocUnsafe(2 + extended + 4 + length);
  frame[0] = 0x80 | opcode;
  if (extended === 0) frame[1] = 0x80 | length;
  else if (extended === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  const maskOffset = 2 + extended;
  const mask = randomBytes(4);
  mask.copy(frame, maskOffset);
  for (let i = 0; i < length; i++) frame[maskOffset + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}
