import { ConfigError, type Logger, type PushTarget } from '@switchboard/core';
import { importPKCS8, SignJWT } from 'jose';
import { requestWithTimeout, type HttpResponse } from './http-request.ts';
import {
  describeError,
  fitBody,
  fitCollapseKey,
  retryOutcome,
  type PushNotification,
  type PushProvider,
  type SendOutcome,
} from './provider.ts';

/** The fields of a Google service-account key file that FCM authentication needs. */
export interface FcmServiceAccount {
  project_id: string;
  client_email: string;
  /** PKCS#8 PEM RSA private key. */
  private_key: string;
  /** OAuth 2.0 token endpoint (default https://oauth2.googleapis.com/token). */
  token_uri?: string;
}

export interface FcmProviderConfig {
  serviceAccount: FcmServiceAccount;
  /** FCM API origin (default https://fcm.googleapis.com). */
  origin?: string;
  /** Timeout of each HTTP request in milliseconds (default 10000). */
  timeoutMs?: number;
  /** How long FCM keeps an undelivered message, in seconds (default 86400). */
  ttlSeconds?: number;
  /** Adds an `apns` block (badge, thread-id, collapse id) for iOS apps that receive FCM (default true). */
  includeApns?: boolean;
  /** Clock in milliseconds since the epoch (default Date.now), used for token lifetimes. */
  now?: () => number;
  logger?: Logger;
}

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const DEFAULT_FCM_ORIGIN = 'https://fcm.googleapis.com';
export const DEFAULT_GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

/** Lifetime of the signed assertion; Google accepts at most one hour. */
const ASSERTION_LIFETIME_SECONDS = 3600;
/** A cached access token is replaced this long before it expires. */
const TOKEN_REFRESH_MARGIN_MS = 60_000;
/** FCM limits the notification and data of a message to 4096 bytes. */
const MAX_PAYLOAD_BYTES = 4096;
/** APNs limits apns-collapse-id to 64 bytes. */
const MAX_APNS_COLLAPSE_ID_BYTES = 64;
/** Data keys that FCM rejects (reserved words and the google and gcm prefixes). */
const RESERVED_DATA_KEY = /^(from|notification|message_type|google.*|gcm.*)$/i;

interface CachedToken {
  value: string;
  /** Time after which the token is no longer used, in milliseconds since the epoch. */
  refreshAt: number;
}

/** Failure to obtain an access token, carrying the outcome to report for the send. */
class AccessTokenError extends Error {
  readonly outcome: SendOutcome;

  constructor(outcome: Exclude<SendOutcome, { outcome: 'sent' }>) {
    super(outcome.reason);
    this.name = 'AccessTokenError';
    this.outcome = outcome;
  }
}

/**
 * Sends through the FCM HTTP v1 API. Access tokens come from the service account's OAuth 2.0
 * JWT bearer grant (RFC 7523): an RS256 assertion posted to `token_uri`. A token is cached until
 * one minute before it expires and is replaced once when FCM responds with 401.
 */
export class FcmProvider implements PushProvider {
  readonly kind = 'fcm' as const;
  readonly #account: Required<FcmServiceAccount>;
  readonly #sendUrl: string;
  readonly #timeoutMs: number;
  readonly #ttlSeconds: number;
  readonly #includeApns: boolean;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #signingKey: Promise<CryptoKey>;
  #token: CachedToken | undefined;
  #pendingToken: Promise<CachedToken> | undefined;
  #tokenRequests = 0;

  constructor(config: FcmProviderConfig) {
    const account = config.serviceAccount;
    for (const field of ['project_id', 'client_email', 'private_key'] as const) {
      if (typeof account?.[field] !== 'string' || account[field] === '') {
        throw new ConfigError(`fcm.serviceAccount.${field}`, 'is missing from the service account');
      }
    }
    this.#account = { ...account, token_uri: account.token_uri ?? DEFAULT_GOOGLE_TOKEN_URI };
    const origin = parseOrigin(config.origin ?? DEFAULT_FCM_ORIGIN, 'fcm.origin');
    parseOrigin(this.#account.token_uri, 'fcm.serviceAccount.token_uri');
    this.#sendUrl = `${origin}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`;
    this.#timeoutMs = config.timeoutMs ?? 10_000;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new ConfigError(
        'fcm.timeoutMs',
        `must be a positive number of milliseconds, got ${this.#timeoutMs}`,
      );
    }
    this.#ttlSeconds = config.ttlSeconds ?? 86_400;
    this.#includeApns = config.includeApns ?? true;
    this.#now = config.now ?? Date.now;
    this.#logger = config.logger;
    // The import is asynchronous, so an invalid key surfaces as a failed send. The empty catch
    // keeps the rejection from being reported as unhandled before the first send awaits it.
    this.#signingKey = importPKCS8(account.private_key, 'RS256');
    this.#signingKey.catch(() => undefined);
  }

  /** Number of access tokens requested from the token endpoint so far. */
  get tokenRequests(): number {
    return this.#tokenRequests;
  }

  async send(target: PushTarget, notification: PushNotification): Promise<SendOutcome> {
    if (target.kind !== 'fcm') {
      return { outcome: 'failed', reason: `FCM provider cannot send to a ${target.kind} target` };
    }
    if (typeof target.token !== 'string' || target.token === '' || target.token.length > 4096) {
      return {
        outcome: 'gone',
        reason: 'invalid FCM registration token: empty or longer than 4096 characters',
      };
    }
    const body = JSON.stringify({ message: this.#buildMessage(target.token, notification) });

    try {
      let token = await this.#getAccessToken();
      let response = await this.#post(token, body);
      if (response.status === 401 && fcmErrorCode(response) !== 'THIRD_PARTY_AUTH_ERROR') {
        this.#invalidate(token);
        token = await this.#getAccessToken();
        response = await this.#post(token, body);
        if (response.status === 401 && fcmErrorCode(response) !== 'THIRD_PARTY_AUTH_ERROR') {
          return retryOutcome(`FCM rejected a fresh access token: ${describeFcmError(response)}`);
        }
      }
      return mapFcmResponse(response);
    } catch (error) {
      if (error instanceof AccessTokenError) return error.outcome;
      return { outcome: 'retry', reason: `FCM ${describeError(error)}` };
    }
  }

  async close(): Promise<void> {
    this.#token = undefined;
  }

  #buildMessage(token: string, notification: PushNotification): Record<string, unknown> {
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(notification.data ?? {})) {
      if (!RESERVED_DATA_KEY.test(key)) data[key] = String(value);
    }
    data.conv = notification.conv;
    data.seq = String(notification.seq);
    data.unread = String(notification.unread);

    const build = (text: string): Record<string, unknown> => {
      const message: Record<string, unknown> = {
        token,
        notification: { title: notification.title, body: text },
        data,
        android: { collapse_key: notification.collapseKey, priority: 'high', ttl: `${this.#ttlSeconds}s` },
      };
      if (this.#includeApns) {
        message.apns = {
          headers: {
            'apns-collapse-id': fitCollapseKey(
              notification.collapseKey,
              MAX_APNS_COLLAPSE_ID_BYTES,
              /^[\x20-\x7e]+$/,
            ),
            'apns-priority': '10',
          },
          payload: { aps: { badge: notification.unread, 'thread-id': notification.conv } },
        };
      }
      return message;
    };
    const sizeOf = (text: string): number => {
      const message = build(text);
      return Buffer.byteLength(JSON.stringify([message.notification, message.data]));
    };
    return build(fitBody(notification.body, MAX_PAYLOAD_BYTES, sizeOf));
  }

  #post(accessToken: string, body: string): Promise<HttpResponse> {
    return requestWithTimeout(
      this.#sendUrl,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${accessToken}`,
          'content-type': 'application/json; charset=utf-8',
        },
        body,
      },
      this.#timeoutMs,
    );
  }

  /** Returns the cached access token, or requests one; concurrent callers share one request. */
  async #getAccessToken(): Promise<string> {
    if (this.#token !== undefined && this.#now() < this.#token.refreshAt) return this.#token.value;
    if (this.#pendingToken === undefined) {
      this.#pendingToken = this.#requestAccessToken().finally(() => {
        this.#pendingToken = undefined;
      });
    }
    const token = await this.#pendingToken;
    this.#token = token;
    return token.value;
  }

  /** Drops the cached token unless another send has already replaced it. */
  #invalidate(token: string): void {
    if (this.#token?.value === token) this.#token = undefined;
  }

  async #requestAccessToken(): Promise<CachedToken> {
    let key: CryptoKey;
    try {
      key = await this.#signingKey;
    } catch (error) {
      throw new AccessTokenError({
        outcome: 'failed',
        reason: `FCM service account private_key is invalid: ${describeError(error)}`,
      });
    }
    const issuedAt = Math.floor(this.#now() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(this.#account.client_email)
      .setAudience(this.#account.token_uri)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ASSERTION_LIFETIME_SECONDS)
      .sign(key);

    this.#tokenRequests += 1;
    let response: HttpResponse;
    try {
      response = await requestWithTimeout(
        this.#account.token_uri,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
            assertion,
          }).toString(),
        },
        this.#timeoutMs,
      );
    } catch (error) {
      const reason = `FCM access token ${describeError(error)}`;
      throw new AccessTokenError({ outcome: 'retry', reason });
    }
    return this.#readTokenResponse(response);
  }

  #readTokenResponse(response: HttpResponse): CachedToken {
    const detail = response.text.trim().slice(0, 200);
    if (response.status === 429 || response.status >= 500) {
      const reason = `FCM token endpoint responded ${response.status}: ${detail}`;
      throw new AccessTokenError(retryOutcome(reason, response.headers.get('retry-after')));
    }
    if (response.status !== 200) {
      // invalid_grant and similar mean the service account is wrong; retrying cannot help.
      const reason = `FCM token endpoint rejected the service account with ${response.status}: ${detail}`;
      throw new AccessTokenError({ outcome: 'failed', reason });
    }

    const parsed = parseJson(response.text) as { access_token?: unknown; expires_in?: unknown } | undefined;
    const value = parsed?.access_token;
    const expiresIn = Number(parsed?.expires_in ?? 3600);
    if (typeof value !== 'string' || value === '' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new AccessTokenError({
        outcome: 'retry',
        reason: 'FCM token endpoint returned no usable access_token',
      });
    }
    const lifetimeMs = expiresIn * 1000;
    const margin = Math.min(TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 2);
    this.#logger?.info({ expiresIn, requests: this.#tokenRequests }, 'FCM access token obtained');
    return { value, refreshAt: this.#now() + lifetimeMs - margin };
  }
}

function parseOrigin(value: string, variable: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `must be an http or https URL, got ${value}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(variable, `must be an http or https URL, got ${value}`);
  }
  return url.origin;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface FcmErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: Array<{
      '@type'?: string;
      errorCode?: string;
      fieldViolations?: Array<{ field?: string; description?: string }>;
    }>;
  };
}

function fcmError(response: HttpResponse): FcmErrorBody['error'] {
  return (parseJson(response.text) as FcmErrorBody | undefined)?.error;
}

/** Returns the FcmError errorCode from the error details, or undefined. */
function fcmErrorCode(response: HttpResponse): string | undefined {
  const details = fcmError(response)?.details;
  if (!Array.isArray(details)) return undefined;
  return details.find((detail) => typeof detail?.errorCode === 'string')?.errorCode;
}

function describeFcmError(response: HttpResponse): string {
  const error = fcmError(response);
  const code = fcmErrorCode(response) ?? error?.status;
  const message = error?.message ?? response.text.trim().slice(0, 200);
  return [String(response.status), code, message]
    .filter((part) => part !== undefined && part !== '')
    .join(' ');
}

/** True when a 400 INVALID_ARGUMENT blames the registration token rather than the message. */
function blamesToken(response: HttpResponse): boolean {
  const error = fcmError(response);
  const violations = (error?.details ?? []).flatMap((detail) => detail?.fieldViolations ?? []);
  if (violations.some((violation) => violation?.field === 'message.token')) return true;
  return /registration token/i.test(error?.message ?? '');
}

/** Maps an FCM v1 response, following the ErrorCode table of the FCM v1 reference. */
function mapFcmResponse(response: HttpResponse): SendOutcome {
  const { status } = response;
  if (status >= 200 && status < 300) return { outcome: 'sent' };

  const reason = `FCM responded ${describeFcmError(response)}`;
  const errorCode = fcmErrorCode(response);
  if (status === 404 || errorCode === 'UNREGISTERED') return { outcome: 'gone', reason };
  const invalidArgument =
    errorCode === 'INVALID_ARGUMENT' || fcmError(response)?.status === 'INVALID_ARGUMENT';
  if (status === 400 && invalidArgument && blamesToken(response)) return { outcome: 'gone', reason };
  if (status === 429 || status >= 500) return retryOutcome(reason, response.headers.get('retry-after'));
  return { outcome: 'failed', reason };
}
