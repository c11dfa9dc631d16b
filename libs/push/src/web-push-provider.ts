import { createECDH } from 'node:crypto';
import { ConfigError, type Logger, type PushTarget } from '@switchboard/core';
import webpush from 'web-push';
import { HttpRequestError, requestWithTimeout } from './http-request.ts';
import {
  DEFAULT_WEB_PUSH_HOSTS,
  describeError,
  fitBody,
  fitCollapseKey,
  retryOutcome,
  validateWebPushEndpoint,
  validateWebPushKeys,
  type PushNotification,
  type PushProvider,
  type SendOutcome,
} from './provider.ts';

export interface WebPushProviderConfig {
  /** VAPID contact: a `mailto:` or `https:` URL the push service may use to reach the operator. */
  subject: string;
  /** VAPID public key: an uncompressed P-256 point in base64url (what `web-push generate-vapid-keys` prints). */
  publicKey: string;
  /** VAPID private key: the 32-byte P-256 scalar in base64url. */
  privateKey: string;
  /** Request timeout in milliseconds, covering connect, send and reading the response (default 10000). */
  timeoutMs?: number;
  /** How long the push service keeps an undelivered message, in seconds (TTL header, default 86400). */
  ttlSeconds?: number;
  /** Hosts that endpoints may point at (default DEFAULT_WEB_PUSH_HOSTS); see validateWebPushEndpoint. */
  allowedHosts?: readonly string[];
  logger?: Logger;
}

/**
 * Largest encrypted body every push service must accept (RFC 8030 section 7.2). The aes128gcm
 * header of a Web Push message takes 86 bytes and the record adds a padding delimiter and a
 * 16-byte tag, so 3993 bytes of plaintext remain.
 */
const MAX_PLAINTEXT_BYTES = 4096 - 86 - 1 - 16;

/** The Topic header takes at most 32 base64url characters (RFC 8030 section 5.4). */
const MAX_TOPIC_LENGTH = 32;

/**
 * Sends Web Push messages (RFC 8030) with VAPID authentication (RFC 8292) and aes128gcm payload
 * encryption (RFC 8291). The web-push package signs and encrypts, and the request itself goes
 * through fetch so that the timeout, status and Retry-After stay under our control.
 *
 * The payload the service worker receives is the JSON of PushNotification.
 */
export class WebPushProvider implements PushProvider {
  readonly kind = 'webpush' as const;
  readonly #config: Required<Omit<WebPushProviderConfig, 'logger'>>;
  readonly #logger: Logger | undefined;

  constructor(config: WebPushProviderConfig) {
    this.#config = {
      subject: config.subject,
      publicKey: config.publicKey,
      privateKey: config.privateKey,
      timeoutMs: config.timeoutMs ?? 10_000,
      ttlSeconds: config.ttlSeconds ?? 86_400,
      allowedHosts: config.allowedHosts ?? DEFAULT_WEB_PUSH_HOSTS,
    };
    this.#logger = config.logger;
    validateConfig(this.#config);
  }

  async send(target: PushTarget, notification: PushNotification): Promise<SendOutcome> {
    if (target.kind !== 'webpush') {
      return { outcome: 'failed', reason: `web push provider cannot send to a ${target.kind} target` };
    }
    // An endpoint outside the allow-list may become valid when the list changes, so it fails
    // without removing the subscription. Malformed keys can never work, so they are gone.
    const endpointError = validateWebPushEndpoint(target.endpoint, this.#config.allowedHosts);
    if (endpointError !== null) return { outcome: 'failed', reason: endpointError };
    const keysError = validateWebPushKeys(target.keys);
    if (keysError !== null) return { outcome: 'gone', reason: `invalid subscription: ${keysError}` };

    let details: webpush.RequestDetails;
    try {
      details = webpush.generateRequestDetails(
        { endpoint: target.endpoint, keys: target.keys },
        buildPayload(notification),
        {
          vapidDetails: {
            subject: this.#config.subject,
            publicKey: this.#config.publicKey,
            privateKey: this.#config.privateKey,
          },
          TTL: this.#config.ttlSeconds,
          contentEncoding: 'aes128gcm',
          urgency: 'high',
          topic: fitCollapseKey(notification.collapseKey, MAX_TOPIC_LENGTH, /^[A-Za-z0-9_-]+$/),
        },
      );
    } catch (error) {
      return { outcome: 'failed', reason: `web push request could not be built: ${describeError(error)}` };
    }

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) headers[name] = String(value);
    // fetch computes Content-Length from the body.
    delete headers['Content-Length'];

    try {
      const response = await requestWithTimeout(
        details.endpoint,
        { method: 'POST', headers, body: details.body ?? undefined },
        this.#config.timeoutMs,
      );
      return mapWebPushResponse(response.status, response.headers.get('retry-after'), response.text);
    } catch (error) {
      const timedOut = error instanceof HttpRequestError && error.timedOut;
      this.#logger?.debug({ err: error, timedOut }, 'web push request failed');
      return { outcome: 'retry', reason: `web push ${describeError(error)}` };
    }
  }

  async close(): Promise<void> {
    // fetch keeps no per-provider state; the global dispatcher's idle sockets time out alone.
  }
}

function validateConfig(config: Required<Omit<WebPushProviderConfig, 'logger'>>): void {
  try {
    // getVapidHeaders checks the subject and both keys and keeps no state, unlike setVapidDetails.
    webpush.getVapidHeaders(
      'https://push.invalid',
      config.subject,
      config.publicKey,
      config.privateKey,
      'aes128gcm',
    );
  } catch (error) {
    throw new ConfigError('webpush', `invalid VAPID details: ${describeError(error)}`);
  }
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(config.privateKey, 'base64url'));
  if (ecdh.getPublicKey('base64url') !== config.publicKey.replace(/=+$/, '')) {
    throw new ConfigError('webpush.publicKey', 'does not belong to the VAPID private key');
  }
  if (!Number.isFinite(config.timeoutMs) || config.timeoutMs <= 0) {
    throw new ConfigError(
      'webpush.timeoutMs',
      `must be a positive number of milliseconds, got ${config.timeoutMs}`,
    );
  }
  if (!Number.isInteger(config.ttlSeconds) || config.ttlSeconds < 0) {
    throw new ConfigError(
      'webpush.ttlSeconds',
      `must be a whole number of seconds >= 0, got ${config.ttlSeconds}`,
    );
  }
}

function buildPayload(notification: PushNotification): string {
  const encode = (body: string): string => JSON.stringify({ ...notification, body });
  const body = fitBody(notification.body, MAX_PLAINTEXT_BYTES, (candidate) =>
    Buffer.byteLength(encode(candidate)),
  );
  return encode(body);
}

/** Maps a push service response (RFC 8030 section 8 and the services' documented codes). */
function mapWebPushResponse(status: number, retryAfter: string | null, text: string): SendOutcome {
  if (status >= 200 && status < 300) return { outcome: 'sent' };
  const detail = text.trim().slice(0, 200);
  const reason =
    detail === ''
      ? `web push service responded ${status}`
      : `web push service responded ${status}: ${detail}`;
  if (status === 404 || status === 410) return { outcome: 'gone', reason };
  if (status === 429 || status >= 500) return retryOutcome(reason, retryAfter);
  return { outcome: 'failed', reason };
}
