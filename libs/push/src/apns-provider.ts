import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { ConfigError, type Logger, type PushTarget } from '@switchboard/core';
import { importPKCS8, SignJWT } from 'jose';
import {
  describeError,
  fitBody,
  fitCollapseKey,
  retryOutcome,
  type PushNotification,
  type PushProvider,
  type SendOutcome,
} from './provider.ts';

export interface ApnsProviderConfig {
  /** APNs origin (default https://api.push.apple.com; the sandbox is https://api.sandbox.push.apple.com). */
  origin?: string;
  /** Key ID of the APNs authentication key (.p8), sent as the JWT `kid`. */
  keyId: string;
  /** Apple developer team ID, sent as the JWT `iss`. */
  teamId: string;
  /** The app's bundle ID, sent as apns-topic. */
  topic: string;
  /** PKCS#8 PEM of the P-256 authentication key (the content of the .p8 file). */
  privateKey: string;
  /**
   * CA certificate in PEM that replaces the default trusted roots, for a test server with a
   * self-signed certificate.
   */
  ca?: string;
  /** Timeout of each request in milliseconds, including connecting (default 10000). */
  timeoutMs?: number;
  /** How long APNs keeps an undelivered notification, in seconds (default 86400). */
  ttlSeconds?: number;
  /** Clock in milliseconds since the epoch (default Date.now), used for token age and expiration. */
  now?: () => number;
  logger?: Logger;
}

export const DEFAULT_APNS_ORIGIN = 'https://api.push.apple.com';

/** A provider token is reused for 40 minutes. APNs rejects tokens older than one hour and
 * throttles providers that renew more often than every 20 minutes. */
export const APNS_TOKEN_LIFETIME_MS = 40 * 60_000;

/** APNs limits the JSON payload of an alert notification to 4096 bytes. */
const MAX_PAYLOAD_BYTES = 4096;
const MAX_COLLAPSE_ID_BYTES = 64;
/** Device tokens are hex strings. Current ones are 32 bytes, and 200 digits leave room for longer ones. */
const DEVICE_TOKEN = /^[0-9a-fA-F]{16,200}$/;

interface ApnsResponse {
  status: number;
  headers: http2.IncomingHttpHeaders;
  text: string;
}

interface ProviderToken {
  value: string;
  issuedAt: number;
}

/** A request that failed before APNs processed it, so it may be sent again on a new session. */
class UnprocessedRequestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnprocessedRequestError';
  }
}

/**
 * Sends alert notifications through the APNs HTTP/2 API with token-based authentication.
 *
 * One HTTP/2 session is kept and reused; after a GOAWAY, an error or a close, the next send opens
 * a new one. A request that the server refused before processing it (GOAWAY, REFUSED_STREAM) is
 * sent once more on a new session.
 */
export class ApnsProvider implements PushProvider {
  readonly kind = 'apns' as const;
  readonly #origin: string;
  readonly #keyId: string;
  readonly #teamId: string;
  readonly #topic: string;
  readonly #ca: string | undefined;
  readonly #timeoutMs: number;
  readonly #ttlSeconds: number;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #signingKey: Promise<CryptoKey>;
  #session: http2.ClientHttp2Session | undefined;
  #sessionsOpened = 0;
  #token: ProviderToken | undefined;
  #tokensIssued = 0;
  #closed = false;

  constructor(config: ApnsProviderConfig) {
    for (const field of ['keyId', 'teamId', 'topic', 'privateKey'] as const) {
      if (typeof config[field] !== 'string' || config[field] === '') {
        throw new ConfigError(`apns.${field}`, 'is missing');
      }
    }
    this.#origin = parseOrigin(config.origin ?? DEFAULT_APNS_ORIGIN);
    this.#keyId = config.keyId;
    this.#teamId = config.teamId;
    this.#topic = config.topic;
    this.#ca = config.ca;
    this.#timeoutMs = config.timeoutMs ?? 10_000;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new ConfigError(
        'apns.timeoutMs',
        `must be a positive number of milliseconds, got ${this.#timeoutMs}`,
      );
    }
    this.#ttlSeconds = config.ttlSeconds ?? 86_400;
    this.#now = config.now ?? Date.now;
    this.#logger = config.logger;
    // The rejection of an invalid key is handled here and reported by each send.
    this.#signingKey = importPKCS8(config.privateKey, 'ES256');
    this.#signingKey.catch(() => undefined);
  }

  /** Number of HTTP/2 sessions opened so far. */
  get sessionsOpened(): number {
    return this.#sessionsOpened;
  }

  /** Number of provider tokens (JWTs) signed so far. */
  get tokensIssued(): number {
    return this.#tokensIssued;
  }

  async send(target: PushTarget, notification: PushNotification): Promise<SendOutcome> {
    if (target.kind !== 'apns') {
      return { outcome: 'failed', reason: `APNs provider cannot send to a ${target.kind} target` };
    }
    if (this.#closed) return { outcome: 'retry', reason: 'APNs provider is closed' };
    // The token becomes part of the request path, so anything but hex is rejected here.
    if (typeof target.token !== 'string' || !DEVICE_TOKEN.test(target.token)) {
      return { outcome: 'gone', reason: 'invalid APNs device token: expected 16 to 200 hex digits' };
    }
    const body = buildPayload(notification);
    const headers = this.#buildHeaders(notification);

    try {
      let token = await this.#getToken();
      let response = await this.#requestOnce(token, target.token, headers, body);
      if (response.status === 403 && apnsReason(response) === 'ExpiredProviderToken') {
        if (this.#token?.value === token) this.#token = undefined;
        token = await this.#getToken();
        response = await this.#requestOnce(token, target.token, headers, body);
        if (response.status === 403 && apnsReason(response) === 'ExpiredProviderToken') {
          return retryOutcome('APNs rejected a fresh provider token: 403 ExpiredProviderToken');
        }
      }
      return mapApnsResponse(response);
    } catch (error) {
      if (error instanceof SigningKeyError) return { outcome: 'failed', reason: error.message };
      return { outcome: 'retry', reason: `APNs ${describeError(error)}` };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    if (session === undefined || session.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        session.destroy();
        resolve();
      }, this.#timeoutMs);
      session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #buildHeaders(notification: PushNotification): http2.OutgoingHttpHeaders {
    return {
      'apns-topic': this.#topic,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-expiration': String(Math.floor(this.#now() / 1000) + this.#ttlSeconds),
      'apns-collapse-id': fitCollapseKey(notification.collapseKey, MAX_COLLAPSE_ID_BYTES, /^[\x20-\x7e]+$/),
      'content-type': 'application/json',
    };
  }

  /** Returns the cached provider token, or signs a new one when it is 40 minutes old. */
  async #getToken(): Promise<string> {
    const now = this.#now();
    if (this.#token !== undefined && now - this.#token.issuedAt < APNS_TOKEN_LIFETIME_MS) {
      return this.#token.value;
    }
    let key: CryptoKey;
    try {
      key = await this.#signingKey;
    } catch (error) {
      throw new SigningKeyError(`APNs privateKey is not a PKCS#8 P-256 key: ${describeError(error)}`);
    }
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.#keyId })
      .setIssuer(this.#teamId)
      .setIssuedAt(Math.floor(now / 1000))
      .sign(key);
    this.#token = { value, issuedAt: now };
    this.#tokensIssued += 1;
    return value;
  }

  /** Sends the request, and once more on a new session when the old one refused it unprocessed. */
  async #requestOnce(
    jwt: string,
    deviceToken: string,
    headers: http2.OutgoingHttpHeaders,
    body: string,
  ): Promise<ApnsResponse> {
    try {
      return await this.#request(jwt, deviceToken, headers, body);
    } catch (error) {
      if (!(error instanceof UnprocessedRequestError)) throw error;
      this.#logger?.info({ err: error }, 'APNs request refused unprocessed, sending on a new session');
      return this.#request(jwt, deviceToken, headers, body);
    }
  }

  #request(
    jwt: string,
    deviceToken: string,
    headers: http2.OutgoingHttpHeaders,
    body: string,
  ): Promise<ApnsResponse> {
    const session = this.#connect();
    return new Promise<ApnsResponse>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request({
          ':method': 'POST',
          ':path': `/3/device/${deviceToken}`,
          authorization: `bearer ${jwt}`,
          'apns-id': randomUUID(),
          ...headers,
        });
      } catch (error) {
        // The session is closing (GOAWAY received or destroyed); nothing reached the server.
        this.#dropSession(session);
        reject(new UnprocessedRequestError(`session unusable: ${describeError(error)}`, { cause: error }));
        return;
      }

      let status = 0;
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let text = '';
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`request timed out after ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);

      stream.setEncoding('utf8');
      stream.on('response', (incoming) => {
        status = Number(incoming[':status']);
        responseHeaders = incoming;
      });
      stream.on('data', (chunk: string) => {
        text += chunk;
      });
      stream.on('end', () => {
        clearTimeout(timer);
        resolve({ status, headers: responseHeaders, text });
      });
      stream.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      stream.on('close', () => {
        clearTimeout(timer);
        if (status !== 0) return;
        if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) {
          reject(new UnprocessedRequestError('stream refused by the server (REFUSED_STREAM)'));
        } else {
          reject(new Error(`stream closed without a response (HTTP/2 error code ${stream.rstCode})`));
        }
      });
      stream.end(body);
    });
  }

  #connect(): http2.ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;

    const session = http2.connect(this.#origin, this.#ca === undefined ? {} : { ca: this.#ca });
    this.#session = session;
    this.#sessionsOpened += 1;
    session.on('goaway', (errorCode) => {
      this.#logger?.info({ errorCode }, 'APNs session received GOAWAY');
      this.#dropSession(session);
    });
    session.on('error', (error) => {
      this.#logger?.warn({ err: error }, 'APNs session failed');
      this.#dropSession(session);
    });
    session.on('close', () => this.#dropSession(session));
    return session;
  }

  #dropSession(session: http2.ClientHttp2Session): void {
    if (this.#session === session) this.#session = undefined;
  }
}

/** The authentication key cannot be used, so no send can succeed until the configuration changes. */
class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

function parseOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      'apns.origin',
      `must be an https URL (http for cleartext HTTP/2 in tests), got ${value}`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(
      'apns.origin',
      `must be an https URL (http for cleartext HTTP/2 in tests), got ${value}`,
    );
  }
  return url.origin;
}

function buildPayload(notification: PushNotification): string {
  const encode = (text: string): string =>
    JSON.stringify({
      ...notification.data,
      aps: {
        alert: { title: notification.title, body: text },
        badge: notification.unread,
        'thread-id': notification.conv,
      },
      conv: notification.conv,
      seq: notification.seq,
    });
  return encode(fitBody(notification.body, MAX_PAYLOAD_BYTES, (text) => Buffer.byteLength(encode(text))));
}

function apnsReason(response: ApnsResponse): string | undefined {
  try {
    const parsed = JSON.parse(response.text) as { reason?: unknown };
    return typeof parsed.reason === 'string' ? parsed.reason : undefined;
  } catch {
    return undefined;
  }
}

/** Maps an APNs response, following Apple's table of status codes and reasons. */
function mapApnsResponse(response: ApnsResponse): SendOutcome {
  const { status } = response;
  if (status === 200) return { outcome: 'sent' };

  const reasonCode = apnsReason(response);
  const reason = `APNs responded ${status}${reasonCode === undefined ? '' : ` ${reasonCode}`}`;
  if (status === 410) return { outcome: 'gone', reason };
  if (status === 400 && (reasonCode === 'BadDeviceToken' || reasonCode === 'DeviceTokenNotForTopic')) {
    return { outcome: 'gone', reason };
  }
  if (status === 429 || status >= 500) {
    const retryAfter = response.headers['retry-after'];
    return retryOutcome(reason, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  }
  return { outcome: 'failed', reason };
}
