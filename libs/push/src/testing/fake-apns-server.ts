import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { verifyJwt } from './jwt-check.ts';
import { delay, ResponseScript, type RejectedRequest } from './scripted-responses.ts';

/** A notification the fake accepted. */
export interface ReceivedApnsNotification {
  deviceToken: string;
  /** Request headers, without HTTP/2 pseudo-headers. */
  headers: Record<string, string>;
  payload: Record<string, unknown>;
  /** The provider token (JWT) the request carried, with its verified header and claims. */
  jwt: { value: string; header: Record<string, unknown>; claims: Record<string, unknown> };
}

/** A response the fake returns in place of 200, after the request passed its checks. */
export interface ScriptedApnsResponse {
  status: number;
  /** APNs error reason, sent as the JSON body `{"reason": ...}`. */
  reason?: string;
  /** Response body sent as is in place of `{"reason": ...}`; an object is sent as JSON. */
  body?: string | Record<string, unknown>;
  retryAfter?: string | number;
  /** Waits this long before responding, to make a client time out. */
  delayMs?: number;
}

/** Everything a provider needs to authenticate to the fake. */
export interface FakeApnsCredentials {
  keyId: string;
  teamId: string;
  topic: string;
  /** PKCS#8 PEM of the P-256 signing key. */
  privateKey: string;
}

export interface FakeApnsServerOptions {
  topic?: string;
  /** Clock in milliseconds since the epoch, for provider token age (default Date.now). */
  now?: () => number;
  /** Serves cleartext HTTP/2 (h2c) even when openssl is available. */
  cleartext?: boolean;
}

type GoneReason = 'Unregistered' | 'BadDeviceToken' | 'DeviceTokenNotForTopic';

/** APNs rejects provider tokens issued more than one hour ago. */
const MAX_TOKEN_AGE_SECONDS = 3600;
const MAX_PAYLOAD_BYTES = 4096;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const execFileAsync = promisify(execFile);

/**
 * An APNs server on 127.0.0.1 speaking HTTP/2 over TLS, with a self-signed certificate made by
 * the openssl CLI at start (cleartext h2c when openssl is missing). It verifies the provider
 * token (ES256, kid, iss, age), the apns-* headers, the path and the JSON payload.
 */
export class FakeApnsServer {
  readonly origin: string;
  /** PEM of the server certificate to trust, or undefined when serving cleartext h2c. */
  readonly ca: string | undefined;
  readonly credentials: FakeApnsCredentials;
  readonly received: ReceivedApnsNotification[] = [];
  readonly rejected: RejectedRequest[] = [];
  readonly #server: http2.Http2Server | http2.Http2SecureServer;
  readonly #publicKey: KeyObject;
  readonly #now: () => number;
  readonly #script = new ResponseScript<ScriptedApnsResponse>();
  readonly #gone = new Map<string, GoneReason>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #requestCount = 0;
  #sessionCount = 0;
  #tokensIssuedBefore = 0;

  private constructor(
    server: http2.Http2Server | http2.Http2SecureServer,
    ca: string | undefined,
    options: FakeApnsServerOptions,
  ) {
    this.#server = server;
    this.ca = ca;
    this.#now = options.now ?? Date.now;
    const { port } = server.address() as AddressInfo;
    this.origin = `${ca === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.#publicKey = publicKey;
    this.credentials = {
      keyId: randomBytes(5).toString('hex').toUpperCase(),
      teamId: randomBytes(5).toString('hex').toUpperCase(),
      topic: options.topic ?? 'com.example.switchboard',
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
  }

  /** Starts the server on 127.0.0.1 on a free port. */
  static async start(options: FakeApnsServerOptions = {}): Promise<FakeApnsServer> {
    const tls = options.cleartext === true ? undefined : await createSelfSignedCertificate();
    const server =
      tls === undefined
        ? http2.createServer()
        : http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeApnsServer(server, tls?.cert, options);
    server.on('session', (session: http2.ServerHttp2Session) => {
      fake.#sessionCount += 1;
      fake.#sessions.add(session);
      session.on('close', () => fake.#sessions.delete(session));
    });
    server.on('stream', (stream, headers) => void fake.#handle(stream, headers));
    return fake;
  }

  /** Number of requests received, whatever their outcome. */
  get requestCount(): number {
    return this.#requestCount;
  }

  /** Number of HTTP/2 sessions (connections) clients opened. */
  get sessionCount(): number {
    return this.#sessionCount;
  }

  /** Responds to the next `times` valid requests with `response` instead of 200. */
  respondNext(response: ScriptedApnsResponse, times = 1): void {
    this.#script.add(response, times);
  }

  /** Makes sends to `deviceToken` fail: 410 Unregistered, or 400 BadDeviceToken/DeviceTokenNotForTopic. */
  markGone(deviceToken: string, reason: GoneReason = 'Unregistered'): void {
    this.#gone.set(deviceToken.toLowerCase(), reason);
  }

  /** Rejects provider tokens issued before now with 403 ExpiredProviderToken, as after a key rotation. */
  expireProviderTokens(): void {
    this.#tokensIssuedBefore = Math.floor(this.#now() / 1000) + 1;
  }

  /** Sends GOAWAY on every open session, as APNs does before it closes a connection. */
  goAway(): void {
    for (const session of this.#sessions) session.goaway(http2.constants.NGHTTP2_NO_ERROR);
  }

  /** Closes every open session without GOAWAY, as a network failure would. */
  dropConnections(): void {
    for (const session of this.#sessions) session.destroy();
  }

  async close(): Promise<void> {
    for (const session of this.#sessions) session.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    this.#requestCount += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const path = String(headers[':path'] ?? '');
    const apnsId = typeof headers['apns-id'] === 'string' ? headers['apns-id'] : randomUUID();

    const reject = (status: number, reason: string): void => {
      this.rejected.push({ path, status, reason });
      if (stream.destroyed) return;
      const responseBody: Record<string, unknown> = { reason };
      if (status === 410) responseBody.timestamp = this.#now();
      stream.respond({ ':status': status, 'apns-id': apnsId, 'content-type': 'application/json' });
      stream.end(JSON.stringify(responseBody));
    };

    const match = /^\/3\/device\/([0-9a-fA-F]+)$/.exec(path);
    if (headers[':method'] !== 'POST') return reject(405, 'MethodNotAllowed');
    if (match === null) return reject(404, 'BadPath');
    const deviceToken = (match[1] ?? '').toLowerCase();

    const jwt = this.#checkProviderToken(headers.authorization);
    if (typeof jwt === 'string') return reject(403, jwt);

    const headerProblem = this.#checkHeaders(headers);
    if (headerProblem !== undefined) return reject(400, headerProblem);
    if (body.length > MAX_PAYLOAD_BYTES) return reject(413, 'PayloadTooLarge');
    const payload = parsePayload(body);
    if (typeof payload === 'string') return reject(400, payload);

    const gone = this.#gone.get(deviceToken);
    if (gone !== undefined) return reject(gone === 'Unregistered' ? 410 : 400, gone);

    const scripted = this.#script.take();
    if (scripted !== undefined) {
      if (scripted.delayMs !== undefined) await delay(scripted.delayMs);
      if (stream.destroyed) return;
      const responseHeaders: http2.OutgoingHttpHeaders = { ':status': scripted.status, 'apns-id': apnsId };
      if (scripted.retryAfter !== undefined) responseHeaders['retry-after'] = String(scripted.retryAfter);
      if (scripted.status === 200 && scripted.body === undefined) {
        stream.respond(responseHeaders, { endStream: true });
        return;
      }
      let text: string;
      if (typeof scripted.body === 'string') text = scripted.body;
      else text = JSON.stringify(scripted.body ?? { reason: scripted.reason ?? 'InternalServerError' });
      stream.respond({ ...responseHeaders, 'content-type': 'application/json' });
      stream.end(text);
      return;
    }

    const requestHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!name.startsWith(':') && value !== undefined) requestHeaders[name] = String(value);
    }
    this.received.push({ deviceToken, headers: requestHeaders, payload, jwt });
    stream.respond({ ':status': 200, 'apns-id': apnsId }, { endStream: true });
  }

  /** Verifies `bearer <jwt>`; returns the token, or the APNs reason for rejecting it. */
  #checkProviderToken(authorization: string | undefined): ReceivedApnsNotification['jwt'] | string {
    const match = /^bearer (\S+)$/i.exec(authorization ?? '');
    if (match === null) return 'MissingProviderToken';
    const value = match[1] ?? '';
    const verified = verifyJwt(value, this.#publicKey, 'ES256');
    if (typeof verified === 'string') return 'InvalidProviderToken';
    const { header, claims } = verified;
    if (header.kid !== this.credentials.keyId) return 'InvalidProviderToken';
    if (claims.iss !== this.credentials.teamId) return 'InvalidProviderToken';

    const nowSeconds = this.#now() / 1000;
    if (typeof claims.iat !== 'number') return 'InvalidProviderToken';
    if (claims.iat > nowSeconds + 60) return 'InvalidProviderToken';
    if (claims.iat < nowSeconds - MAX_TOKEN_AGE_SECONDS) return 'ExpiredProviderToken';
    if (claims.iat < this.#tokensIssuedBefore) return 'ExpiredProviderToken';
    return { value, header, claims };
  }

  /** Checks the apns-* headers; returns the APNs reason for the first problem, or undefined. */
  #checkHeaders(headers: http2.IncomingHttpHeaders): string | undefined {
    const topic = headers['apns-topic'];
    if (topic === undefined) return 'MissingTopic';
    if (topic !== this.credentials.topic) return 'TopicDisallowed';
    if (headers['apns-push-type'] !== 'alert') return 'InvalidPushType';
    if (!['10', '5', '1'].includes(String(headers['apns-priority'] ?? '10'))) return 'BadPriority';
    const expiration = headers['apns-expiration'];
    if (expiration !== undefined && !/^\d+$/.test(String(expiration))) return 'BadExpirationDate';
    const collapseId = headers['apns-collapse-id'];
    if (collapseId !== undefined && Buffer.byteLength(String(collapseId)) > 64) return 'BadCollapseId';
    const apnsId = headers['apns-id'];
    if (apnsId !== undefined && !UUID.test(String(apnsId))) return 'BadMessageId';
    return undefined;
  }
}

/** Parses and checks an alert payload; returns it, or the reason for rejecting it. */
function parsePayload(body: Buffer): Record<string, unknown> | string {
  if (body.length === 0) return 'PayloadEmpty';
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return 'BadPayload: body is not JSON';
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    return 'BadPayload: not an object';
  const aps = (payload as { aps?: unknown }).aps as Record<string, unknown> | undefined;
  if (typeof aps !== 'object' || aps === null) return 'BadPayload: aps is missing';
  const alert = aps.alert as Record<string, unknown> | undefined;
  if (typeof alert !== 'object' || alert === null) return 'BadPayload: aps.alert must be an object';
  if (typeof alert.title !== 'string' || typeof alert.body !== 'string') {
    return 'BadPayload: aps.alert needs title and body strings';
  }
  if (
    aps.badge !== undefined &&
    (typeof aps.badge !== 'number' || !Number.isInteger(aps.badge) || aps.badge < 0)
  ) {
    return 'BadPayload: aps.badge must be a non-negative integer';
  }
  if (aps['thread-id'] !== undefined && typeof aps['thread-id'] !== 'string') {
    return 'BadPayload: aps.thread-id must be a string';
  }
  return payload as Record<string, unknown>;
}

/**
 * Creates a self-signed P-256 certificate for 127.0.0.1 and localhost with the openssl CLI.
 * Returns undefined when openssl is not installed, so the caller falls back to h2c.
 */
async function createSelfSignedCertificate(): Promise<{ key: string; cert: string } | undefined> {
  const directory = await mkdtemp(join(tmpdir(), 'switchboard-apns-'));
  try {
    const keyPath = join(directory, 'key.pem');
    const certPath = join(directory, 'cert.pem');
    // prettier-ignore
    await execFileAsync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
    return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
