import { ConfigError } from '@switchboard/core';
import webpush from 'web-push';
import { describe, expect, it } from 'vitest';
import { closeProviders, createProviders } from './index.ts';
import {
  DEFAULT_WEB_PUSH_HOSTS,
  fitBody,
  parseRetryAfter,
  validateWebPushEndpoint,
  validateWebPushKeys,
} from './provider.ts';
import { FakeApnsServer } from './testing/index.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 7 ', 7000],
    ['Thu, 01 Jan 2026 00:01:30 GMT', 90_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['Thursday, 01-Jan-26 00:00:10 GMT', 10_000],
    ['Thu Jan  1 00:00:20 2026', 20_000],
  ])('parses %j', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it.each([
    undefined,
    null,
    '',
    'soon',
    '-5',
    '1.5',
    '2026-01-01T00:01:00Z',
    'Thu, 01 Jan 2026 00:01:30 PST',
  ])('returns undefined for %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('validateWebPushEndpoint', () => {
  it.each([
    'https://fcm.googleapis.com/fcm/send/abc',
    'https://updates.push.services.mozilla.com/wpush/v2/abc',
    'https://updates-autopush.stage.push.services.mozilla.com/wpush/v2/abc',
    'https://wns2-db5p.notify.windows.com/w/?token=abc',
    'https://web.push.apple.com/QGuQyavXutnMH6mh',
    'https://FCM.googleapis.com/fcm/send/abc',
  ])('accepts %s', (url) => {
    expect(validateWebPushEndpoint(url, DEFAULT_WEB_PUSH_HOSTS)).toBeNull();
  });

  it.each([
    ['http://fcm.googleapis.com/fcm/send/abc', 'endpoint must use https, got http for fcm.googleapis.com'],
    ['https://127.0.0.1/push', 'endpoint host 127.0.0.1 is not an allowed push service'],
    [
      'https://169.254.169.254/latest/meta-data',
      'endpoint host 169.254.169.254 is not an allowed push service',
    ],
    ['https://evil.example/fcm.googleapis.com', 'endpoint host evil.example is not an allowed push service'],
    [
      'https://fcm.googleapis.com.evil.example/x',
      'endpoint host fcm.googleapis.com.evil.example is not an allowed push service',
    ],
    [
      'https://evilnotify.windows.com/x',
      'endpoint host evilnotify.windows.com is not an allowed push service',
    ],
    ['https://notify.windows.com/x', 'endpoint host notify.windows.com is not an allowed push service'],
    ['https://user:pw@fcm.googleapis.com/x', 'endpoint must not contain credentials'],
    ['ftp://fcm.googleapis.com/x', 'endpoint must use https, got ftp:'],
    ['not a url', 'endpoint is not a valid URL: not a url'],
    ['', 'endpoint is missing'],
  ])('rejects %s', (url, message) => {
    expect(validateWebPushEndpoint(url, DEFAULT_WEB_PUSH_HOSTS)).toBe(message);
  });

  it('rejects an over-long endpoint', () => {
    expect(
      validateWebPushEndpoint(`https://fcm.googleapis.com/${'a'.repeat(3000)}`, DEFAULT_WEB_PUSH_HOSTS),
    ).toMatch(/longer than 2048/);
  });

  it('allows http only for a host listed exactly', () => {
    expect(validateWebPushEndpoint('http://127.0.0.1:8080/push/1', ['127.0.0.1'])).toBeNull();
    expect(validateWebPushEndpoint('http://web.push.apple.com/x', ['web.push.apple.com'])).toBe(
      'endpoint must use https, got http for web.push.apple.com',
    );
    expect(validateWebPushEndpoint('http://a.push.example/1', ['*.push.example'])).toBe(
      'endpoint must use https, got http for a.push.example',
    );
    expect(validateWebPushEndpoint('https://a.push.example/1', ['*.push.example'])).toBeNull();
  });

  it('allows a port only for a host listed exactly', () => {
    expect(validateWebPushEndpoint('https://127.0.0.1:8443/push/1', ['127.0.0.1'])).toBeNull();
    expect(validateWebPushEndpoint('https://fcm.googleapis.com:443/x', DEFAULT_WEB_PUSH_HOSTS)).toBeNull();
    expect(validateWebPushEndpoint('https://fcm.googleapis.com:22/x', DEFAULT_WEB_PUSH_HOSTS)).toBe(
      'endpoint must not name a port, got 22 for fcm.googleapis.com',
    );
    expect(validateWebPushEndpoint('https://a.push.example:8443/1', ['*.push.example'])).toBe(
      'endpoint must not name a port, got 8443 for a.push.example',
    );
  });
});

describe('validateWebPushKeys', () => {
  const { publicKey } = webpush.generateVAPIDKeys();
  const auth = Buffer.alloc(16, 1).toString('base64url');

  it('accepts browser keys', () => {
    expect(validateWebPushKeys({ p256dh: publicKey, auth })).toBeNull();
  });

  it('rejects a short p256dh', () => {
    expect(validateWebPushKeys({ p256dh: 'BAAA', auth })).toMatch(/keys.p256dh/);
  });

  it('rejects a p256dh that is not a point on the curve', () => {
    const offCurve = Buffer.concat([Buffer.from([0x04]), Buffer.alloc(64, 1)]).toString('base64url');
    expect(validateWebPushKeys({ p256dh: offCurve, auth })).toMatch(/keys.p256dh/);
  });

  it('rejects a long auth secret', () => {
    expect(validateWebPushKeys({ p256dh: publicKey, auth: Buffer.alloc(32).toString('base64url') })).toMatch(
      /keys.auth/,
    );
  });
});

describe('fitBody', () => {
  const size = (body: string) => Buffer.byteLength(body);

  it('keeps a body that fits', () => {
    expect(fitBody('hello', 10, size)).toBe('hello');
  });

  it('cuts on a code point boundary', () => {
    const body = fitBody('😀😀😀😀', 12, size);

    expect(body).toBe('😀😀…');
    expect(size(body)).toBeLessThanOrEqual(12);
  });

  it('returns an empty body when nothing fits', () => {
    expect(fitBody('hello', 2, size)).toBe('');
  });
});

describe('createProviders', () => {
  it('creates only the configured providers', async () => {
    const fake = await FakeApnsServer.start({ cleartext: true });
    const vapid = webpush.generateVAPIDKeys();

    const providers = createProviders({
      webpush: { subject: 'mailto:ops@example.com', ...vapid },
      apns: { ...fake.credentials, origin: fake.origin },
    });

    expect(Object.keys(providers).sort()).toEqual(['apns', 'webpush']);
    expect(providers.apns?.kind).toBe('apns');
    expect(providers.webpush?.kind).toBe('webpush');
    await closeProviders(providers);
    await fake.close();
  });

  it('throws ConfigError for an invalid section', () => {
    expect(() =>
      createProviders({ apns: { keyId: 'K', teamId: 'T', topic: 'com.example', privateKey: '' } }),
    ).toThrow(ConfigError);
  });
});
