import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readPushRoutesConfig } from '@switchboard/api';
import { readProvidersConfig } from '@switchboard/push-worker';
import { DEFAULT_VAPID_SUBJECT, withVapidKeys } from './vapid-keys.ts';

describe('VAPID keys of the embedded profile', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-vapid-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates and keeps a valid pair', () => {
    const first = withVapidKeys({}, dir);
    const second = withVapidKeys({}, dir);

    expect(second).toEqual(first);
    expect(first.SWB_PUSH_VAPID_SUBJECT).toBe(DEFAULT_VAPID_SUBJECT);
    expect(readPushRoutesConfig(first).vapidPublicKey).toBe(first.SWB_PUSH_VAPID_PUBLIC_KEY);
    expect(readProvidersConfig(first).webpush?.publicKey).toBe(first.SWB_PUSH_VAPID_PUBLIC_KEY);
    expect(statSync(join(dir, 'vapid-keys.json')).mode & 0o777).toBe(0o600);
  });

  it('leaves configured keys to the configuration readers', () => {
    const env = { SWB_PUSH_VAPID_PUBLIC_KEY: 'not-a-key' };

    expect(withVapidKeys(env, dir)).toBe(env);
    expect(() => readPushRoutesConfig(env)).toThrow(/SWB_PUSH_VAPID_PUBLIC_KEY/);
  });

  it('refuses a key file without both keys', () => {
    withVapidKeys({}, dir);
    const path = join(dir, 'vapid-keys.json');
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    writeFileSync(path, JSON.stringify({ publicKey: stored.publicKey }));

    expect(() => withVapidKeys({}, dir)).toThrow(/vapid-keys\.json/);
  });
});
