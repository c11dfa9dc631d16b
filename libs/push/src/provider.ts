import { createHash, ECDH } from 'node:crypto';
import type { PushTarget } from '@switchboard/core';

/** The content of one push notification, the same for every provider. */
export interface PushNotification {
  title: string;
  body: string;
  conv: string;
  seq: number;
  /** Unread count shown as the app badge. */
  unread: number;
  /** Notifications with the same key replace each other on the device. */
  collapseKey: string;
  /** Extra string fields delivered to the app next to `conv`, `seq` and `unread`. */
  data?: Record<string, string>;
}

/** The result of one send, which decides what the caller does with the job and the subscription. */
export type SendOutcome =
  | { outcome: 'sent' }
  /** 429, 5xx, network errors and timeouts, or an expired provider token after one refresh. */
  | { outcome: 'retry'; reason: string; retryAfterMs?: number }
  /** 404/410, FCM UNREGISTERED, APNs BadDeviceToken or Unregistered: remove the subscription. */
  | { outcome: 'gone'; reason: string }
  /** Any other 4xx and invalid configuration: do not retry. */
  | { outcome: 'failed'; reason: string };

/** A push service client. `send` never throws for a failed delivery; it returns the outcome. */
export interface PushProvider {
  readonly kind: 'webpush' | 'fcm' | 'apns';
  send(target: PushTarget, notification: PushNotification): Promise<SendOutcome>;
  close(): Promise<void>;
}

/**
 * Hosts of the public Web Push services. An entry starting with `.` matches any subdomain of it
 * (but not the bare domain); any other entry matches that host name exactly.
 */
export const DEFAULT_WEB_PUSH_HOSTS: readonly string[] = Object.freeze([
  'fcm.googleapis.com',
  'updates.push.services.mozilla.com',
  '.push.services.mozilla.com',
  '.notify.windows.com',
  'web.push.apple.com',
]);

/** Maximum length of an accepted endpoint URL. Browsers typically hand out endpoints of 150 to 500 characters. */
export const MAX_WEB_PUSH_ENDPOINT_LENGTH = 2048;

/**
 * Checks a user-supplied Web Push endpoint against an allow-list of hosts, so that a
 * subscription cannot make the server call an internal address.
 *
 * An entry `.example.com` (or `*.example.com`) matches subdomains of example.com; any other
 * entry matches that host name exactly. The URL must use https, except for a host listed
 * exactly (not through a suffix) that is not one of DEFAULT_WEB_PUSH_HOSTS: such a host may use
 * http, which is meant for test services on loopback. Returns an error message, or null when the
 * endpoint is acceptable.
 */
export function validateWebPushEndpoint(url: string, allowedHosts: readonly string[]): string | null {
  if (typeof url !== 'string' || url.length === 0) return 'endpoint is missing';
  if (url.length > MAX_WEB_PUSH_ENDPOINT_LENGTH) {
    return `endpoint is longer than ${MAX_WEB_PUSH_ENDPOINT_LENGTH} characters`;
  }

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `endpoint is not a valid URL: ${url}`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return `endpoint must use https, got ${parsed.protocol}`;
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return 'endpoint must not contain credentials';
  }

  // URL lowercases the host name and converts IDNs to punycode, so the comparison is exact.
  const host = parsed.hostname;
  const exact = allowedHosts.some((entry) => !isSuffixEntry(entry) && entry.toLowerCase() === host);
  const bySuffix = allowedHosts.some((entry) => isSuffixEntry(entry) && host.endsWith(suffixOf(entry)));
  if (!exact && !bySuffix) {
    return `endpoint host ${host} is not an allowed push service`;
  }
  if (parsed.protocol === 'http:' && (!exact || DEFAULT_WEB_PUSH_HOSTS.includes(host))) {
    return `endpoint must use https, got http for ${host}`;
  }
  // URL drops the scheme's default port, so `parsed.port` is set only for another port. Public
  // push services listen on 443 alone, and any other port would let an endpoint reach other
  // services of an allowed host.
  if (parsed.port !== '' && (!exact || DEFAULT_WEB_PUSH_HOSTS.includes(host))) {
    return `endpoint must not name a port, got ${parsed.port} for ${host}`;
  }
  return null;
}

function isSuffixEntry(entry: string): boolean {
  return entry.startsWith('.') || entry.startsWith('*.');
}

/** Returns `.example.com` for both `.example.com` and `*.example.com`. */
function suffixOf(entry: string): string {
  return (entry.startsWith('*') ? entry.slice(1) : entry).toLowerCase();
}

/**
 * Checks the keys of a Web Push subscription: `p256dh` must be an uncompressed P-256 point
 * (65 bytes) and `auth` a 16-byte secret, both in base64url. Returns an error message or null.
 */
export function validateWebPushKeys(keys: { p256dh: string; auth: string } | undefined): string | null {
  if (keys === undefined || keys === null) return 'keys are missing';
  const p256dh = decodeBase64Url(keys.p256dh);
  if (p256dh === null || p256dh.length !== 65 || p256dh[0] !== 0x04 || !isP256Point(p256dh)) {
    return 'keys.p256dh must be an uncompressed P-256 public key (65 bytes, base64url)';
  }
  const auth = decodeBase64Url(keys.auth);
  if (auth === null || auth.length !== 16) {
    return 'keys.auth must be a 16-byte secret (base64url)';
  }
  return null;
}

/** True when `key` is a point on the P-256 curve, which encryption for the subscription needs. */
function isP256Point(key: Buffer): boolean {
  try {
    ECDH.convertKey(key, 'prime256v1');
    return true;
  } catch {
    return false;
  }
}

function decodeBase64Url(value: unknown): Buffer | null {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+={0,2}$/.test(value)) return null;
  return Buffer.from(value.replace(/=+$/, ''), 'base64url');
}

/**
 * Parses a Retry-After header value, either delay-seconds or an HTTP date (RFC 9110 section
 * 10.2.3), into milliseconds from `now`. Returns undefined for a missing or unparsable value;
 * a date in the past gives 0.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;

  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : undefined;
  }

  const date = parseHttpDate(trimmed);
  if (date === undefined) return undefined;
  return Math.max(0, date - now);
}

const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE = /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * Parses the three HTTP-date formats of RFC 9110 section 5.6.7. The format is checked first
 * because Date.parse also accepts strings such as "-5" or "1.5".
 */
function parseHttpDate(value: string): number | undefined {
  let date = Number.NaN;
  if (IMF_FIXDATE.test(value) || RFC850_DATE.test(value)) date = Date.parse(value);
  // asctime dates carry no zone but are defined as UTC.
  else if (ASCTIME_DATE.test(value)) date = Date.parse(`${value} GMT`);
  return Number.isNaN(date) ? undefined : date;
}

/** Builds a retry outcome, leaving `retryAfterMs` out when the header gave none. */
export function retryOutcome(
  reason: string,
  retryAfterHeader?: string | null,
  now?: number,
): Extract<SendOutcome, { outcome: 'retry' }> {
  const retryAfterMs = parseRetryAfter(retryAfterHeader, now);
  return retryAfterMs === undefined
    ? { outcome: 'retry', reason }
    : { outcome: 'retry', reason, retryAfterMs };
}

/**
 * Shortens a collapse key to fit a provider's limit: a key that fits and matches `allowed` is
 * kept. Any other becomes the base64url SHA-256 digest of the key (43 characters), cut to
 * `maxLength` characters.
 */
export function fitCollapseKey(key: string, maxLength: number, allowed: RegExp): string {
  if (Buffer.byteLength(key) <= maxLength && allowed.test(key)) return key;
  return createHash('sha256').update(key).digest('base64url').slice(0, maxLength);
}

/**
 * Cuts `body` to the longest prefix (on a code point boundary, with a trailing ellipsis) for
 * which `sizeOf` stays within `maxBytes`. Returns the body unchanged when it fits, and an empty
 * string when even that is too large.
 */
export function fitBody(body: string, maxBytes: number, sizeOf: (body: string) => number): string {
  if (sizeOf(body) <= maxBytes) return body;
  const codePoints = Array.from(body);
  let low = 0;
  let high = codePoints.length;
  // Binary search on the number of code points kept: sizeOf grows with the prefix length.
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (sizeOf(codePoints.slice(0, middle).join('') + '…') <= maxBytes) low = middle;
    else high = middle - 1;
  }
  return low === 0 ? '' : codePoints.slice(0, low).join('') + '…';
}

/** Describes a thrown value for a SendOutcome reason, with its code and cause when they add detail. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  let text = typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  const cause = error.cause;
  if (cause instanceof Error && !text.includes(cause.message)) text += ` (cause: ${cause.message})`;
  return text;
}
