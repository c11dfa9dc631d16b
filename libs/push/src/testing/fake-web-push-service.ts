import {
  createDecipheriv,
  createECDH,
  createHmac,
  createPublicKey,
  randomBytes,
  randomUUID,
  type ECDH,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyJwt } from './jwt-check.ts';
import {
  ResponseScript,
  sendScripted,
  type RejectedRequest,
  type ScriptedResponse,
} from './scripted-responses.ts';

/** A subscription as a browser's PushSubscription.toJSON() returns it. */
export interface FakeWebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** A push message the fake accepted and decrypted. */
export interface ReceivedWebPush {
  subscriptionId: string;
  /** The decrypted payload. */
  plaintext: string;
  /** The decrypted payload parsed as JSON, or undefined when it is not JSON. */
  payload: unknown;
  ttl: number;
  urgency: string | undefined;
  topic: string | undefined;
  /** The VAPID public key (k) and the verified JWT claims. */
  vapid: { publicKey: string; claims: Record<string, unknown> };
}

export interface FakeWebPushServiceOptions {
  /** Clock in milliseconds since the epoch, for JWT expiry checks (default Date.now). */
  now?: () => number;
}

interface SubscriptionState {
  ecdh: ECDH;
  auth: Buffer;
  /** The applicationServerKey the subscription was restricted to, if any. */
  applicationServerKey: string | undefined;
  goneStatus: 404 | 410 | undefined;
}

/** The largest body a push service must accept (RFC 8030 section 7.2). */
const MAX_BODY_BYTES = 4096;
/** VAPID tokens may not expire more than 24 hours ahead (RFC 8292 section 2). */
const MAX_VAPID_LIFETIME_SECONDS = 24 * 3600;

/**
 * A Web Push service on 127.0.0.1 that checks each request as a real one would: the VAPID
 * Authorization header (RFC 8292), the TTL and Content-Encoding headers, and the aes128gcm
 * payload, which it decrypts with the subscription's private key and auth secret (RFC 8291).
 */
export class FakeWebPushService {
  readonly origin: string;
  /** Accepted messages, oldest first. */
  readonly received: ReceivedWebPush[] = [];
  /** Rejected requests, oldest first. */
  readonly rejected: RejectedRequest[] = [];
  readonly #server: Server;
  readonly #now: () => number;
  readonly #subscriptions = new Map<string, SubscriptionState>();
  readonly #script = new ResponseScript();
  #requestCount = 0;

  private constructor(server: Server, now: () => number) {
    this.#server = server;
    this.#now = now;
    const { port } = server.address() as AddressInfo;
    this.origin = `http://127.0.0.1:${port}`;
  }

  /** Starts the service on 127.0.0.1 on a free port. */
  static async start(options: FakeWebPushServiceOptions = {}): Promise<FakeWebPushService> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const service = new FakeWebPushService(server, options.now ?? Date.now);
    server.on('request', (request, response) => void service.#handle(request, response));
    return service;
  }

  /** Number of requests received, whatever their outcome. */
  get requestCount(): number {
    return this.#requestCount;
  }

  /**
   * Creates a subscription as a browser would: a fresh P-256 key pair and 16-byte auth secret.
   * With `applicationServerKey`, only messages signed with that VAPID key are accepted.
   */
  createSubscription(options: { applicationServerKey?: string } = {}): FakeWebPushSubscription {
    const id = randomUUID();
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    this.#subscriptions.set(id, {
      ecdh,
      auth,
      applicationServerKey: options.applicationServerKey,
      goneStatus: undefined,
    });
    return {
      endpoint: `${this.origin}/push/${id}`,
      keys: { p256dh: ecdh.getPublicKey('base64url'), auth: auth.toString('base64url') },
    };
  }

  /** Makes every later message to the subscription fail with 410 Gone (or 404). */
  markGone(endpoint: string, status: 404 | 410 = 410): void {
    const state = this.#subscriptions.get(subscriptionIdOf(endpoint));
    if (state === undefined) throw new Error(`unknown subscription endpoint ${endpoint}`);
    state.goneStatus = status;
  }

  /** Responds to the next `times` valid requests with `response` instead of 201. */
  respondNext(response: ScriptedResponse, times = 1): void {
    this.#script.add(response, times);
  }

  /** Messages accepted for one endpoint. */
  receivedFor(endpoint: string): ReceivedWebPush[] {
    const id = subscriptionIdOf(endpoint);
    return this.received.filter((message) => message.subscriptionId === id);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.#requestCount += 1;
    const path = request.url ?? '';
    const reject = (status: number, reason: string): void => {
      this.rejected.push({ path, status, reason });
      response.writeHead(status, { 'content-type': 'text/plain' }).end(reason);
    };

    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === undefined) return reject(413, `body exceeds ${MAX_BODY_BYTES} bytes`);
    const match = /^\/push\/([0-9a-f-]+)$/.exec(path);
    const id = match?.[1] ?? '';
    const subscription = this.#subscriptions.get(id);
    if (request.method !== 'POST') return reject(405, `method ${request.method} not allowed`);
    if (subscription === undefined) return reject(404, 'no such subscription');
    if (subscription.goneStatus !== undefined) return reject(subscription.goneStatus, 'subscription expired');

    const vapid = this.#checkVapid(request.headers.authorization, subscription);
    if (typeof vapid === 'string' || 'status' in vapid) {
      return typeof vapid === 'string' ? reject(401, vapid) : reject(vapid.status, vapid.reason);
    }

    const ttlHeader = request.headers.ttl;
    if (typeof ttlHeader !== 'string' || !/^\d+$/.test(ttlHeader)) {
      return reject(400, 'TTL header missing or not a non-negative integer');
    }
    const urgency = header(request, 'urgency');
    if (urgency !== undefined && !['very-low', 'low', 'normal', 'high'].includes(urgency)) {
      return reject(400, `invalid Urgency ${urgency}`);
    }
    const topic = header(request, 'topic');
    if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic)) {
      return reject(400, `invalid Topic ${topic}: at most 32 base64url characters`);
    }
    if (header(request, 'content-encoding') !== 'aes128gcm') {
      return reject(400, `Content-Encoding must be aes128gcm, got ${header(request, 'content-encoding')}`);
    }

    const plaintext = decryptAes128gcm(body, subscription);
    if (typeof plaintext !== 'string') return reject(400, plaintext.error);

    const scripted = this.#script.take();
    if (scripted !== undefined) return sendScripted(response, scripted);

    this.received.push({
      subscriptionId: id,
      plaintext,
      payload: parseJson(plaintext),
      ttl: Number(ttlHeader),
      urgency,
      topic,
      vapid,
    });
    response.writeHead(201, { location: `${this.origin}/message/${randomUUID()}` }).end();
  }

  /** Checks `vapid t=<jwt>, k=<key>`; returns the key and claims, or a reason with a status. */
  #checkVapid(
    authorization: string | undefined,
    subscription: SubscriptionState,
  ): { publicKey: string; claims: Record<string, unknown> } | { status: number; reason: string } | string {
    const match = /^vapid\s+(.*)$/i.exec(authorization ?? '');
    if (match === null) return 'Authorization must use the vapid scheme';
    const params = new Map<string, string>();
    for (const part of (match[1] ?? '').split(',')) {
      const separator = part.indexOf('=');
      if (separator > 0) params.set(part.slice(0, separator).trim(), part.slice(separator + 1).trim());
    }
    const token = params.get('t');
    const publicKey = params.get('k');
    if (token === undefined || publicKey === undefined) return 'vapid Authorization needs both t and k';

    const point = Buffer.from(publicKey, 'base64url');
    if (point.length !== 65 || point[0] !== 0x04) return 'k is not an uncompressed P-256 public key';
    if (subscription.applicationServerKey !== undefined && publicKey !== subscription.applicationServerKey) {
      return { status: 403, reason: 'k does not match the applicationServerKey of the subscription' };
    }

    let key;
    try {
      key = createPublicKey({
        key: {
          kty: 'EC',
          crv: 'P-256',
          x: point.subarray(1, 33).toString('base64url'),
          y: point.subarray(33).toString('base64url'),
        },
        format: 'jwk',
      });
    } catch {
      return 'k is not a point on P-256';
    }
    const verified = verifyJwt(token, key, 'ES256');
    if (typeof verified === 'string') return verified;

    const { claims } = verified;
    const nowSeconds = this.#now() / 1000;
    if (claims.aud !== this.origin) return `aud must be ${this.origin}, got ${String(claims.aud)}`;
    if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return 'exp is missing or in the past';
    if (claims.exp > nowSeconds + MAX_VAPID_LIFETIME_SECONDS) return 'exp is more than 24 hours ahead';
    if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) {
      return 'sub must be a mailto: or https: URL';
    }
    return { publicKey, claims };
  }
}

function subscriptionIdOf(endpoint: string): string {
  return endpoint.slice(endpoint.lastIndexOf('/') + 1);
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads the body, or returns undefined once it exceeds `limit` bytes. */
async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? undefined : Buffer.concat(chunks);
}

function hmac(key: Buffer, ...data: Buffer[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of data) mac.update(part);
  return mac.digest();
}

/**
 * Decrypts a Web Push message body (RFC 8291 section 3.4 and RFC 8188 section 2) as the user
 * agent does. Returns the plaintext, or an error saying which step failed.
 */
function decryptAes128gcm(body: Buffer, subscription: SubscriptionState): string | { error: string } {
  // Header: salt (16) | record size (4) | key id length (1) | key id (the sender's public key).
  if (body.length < 21) return { error: 'body shorter than the aes128gcm header' };
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const keyIdLength = body[20] ?? 0;
  if (keyIdLength !== 65)
    return { error: `key id must be a 65-byte P-256 public key, got ${keyIdLength} bytes` };
  const senderPublicKey = body.subarray(21, 21 + keyIdLength);
  const ciphertext = body.subarray(21 + keyIdLength);
  if (recordSize < 18) return { error: `record size ${recordSize} is below the minimum of 18` };
  if (ciphertext.length < 17) return { error: 'ciphertext shorter than one tag and padding byte' };
  if (ciphertext.length > recordSize) return { error: 'Web Push messages must fit in a single record' };

  let sharedSecret: Buffer;
  try {
    sharedSecret = subscription.ecdh.computeSecret(senderPublicKey);
  } catch {
    return { error: 'key id is not a valid P-256 public key' };
  }
  const receiverPublicKey = subscription.ecdh.getPublicKey();

  // IKM = HKDF(auth secret, ECDH secret, "WebPush: info" || 0x00 || ua_public || as_public, 32).
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), receiverPublicKey, senderPublicKey]);
  const ikm = hmac(hmac(subscription.auth, sharedSecret), keyInfo, Buffer.from([1]));
  // CEK and nonce from HKDF(salt, IKM) with the RFC 8188 info strings.
  const prk = hmac(salt, ikm);
  const contentKey = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0'), Buffer.from([1])).subarray(
    0,
    16,
  );
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0'), Buffer.from([1])).subarray(0, 12);

  let padded: Buffer;
  try {
    // The only record has sequence number 0, so the nonce is used as derived.
    const decipher = createDecipheriv('aes-128-gcm', contentKey, nonce);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    padded = Buffer.concat([
      decipher.update(ciphertext.subarray(0, ciphertext.length - 16)),
      decipher.final(),
    ]);
  } catch {
    return { error: 'ciphertext does not decrypt: authentication tag mismatch' };
  }

  // Padding: the content, a delimiter byte (0x02 for the last record), then zero bytes.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (end < 0 || padded[end] !== 0x02) return { error: 'last record lacks the 0x02 padding delimiter' };
  return padded.subarray(0, end).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
