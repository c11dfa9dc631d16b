import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@switchboard/core';
import { runEntry } from '@switchboard/core/testing';
import { readPushWorkerConfig } from './config.ts';
import { generateVapidEnv } from './testing/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-push-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Returns the ConfigError that reading `env` raises, or fails the test. */
function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    readPushWorkerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('readPushWorkerConfig', () => {
  it('fills in the defaults without providers', () => {
    const config = readPushWorkerConfig({});
    expect(config.metricsPort).toBe(9465);
    expect(config.group).toBe('push-worker');
    expect(config.worker).toEqual({
      collapseIntervalMs: 2000,
      maxAttempts: 5,
      backoffBaseMs: 500,
      backoffMaxMs: 30_000,
      dedupWindowMs: 600_000,
      dedupMaxEntries: 100_000,
      maxConcurrency: 64,
    });
    expect(config.providers).toEqual({});
  });

  it('reads every provider', () => {
    const vapid = generateVapidEnv();
    const config = readPushWorkerConfig({
      ...vapid,
      SWB_PUSH_ALLOWED_HOSTS: '127.0.0.1, .push.example.com',
      SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE: writeFile(
        'account.json',
        JSON.stringify({
          project_id: 'p',
          client_email: 'a@p.iam',
          private_key: '-----BEGIN PRIVATE KEY-----',
        }),
      ),
      SWB_PUSH_FCM_API_ORIGIN: 'http://127.0.0.1:9000',
      SWB_PUSH_APNS_KEY_FILE: writeFile('key.p8', '-----BEGIN PRIVATE KEY-----\n'),
      SWB_PUSH_APNS_KEY_ID: 'ABC123DEFG',
      SWB_PUSH_APNS_TEAM_ID: 'DEF123GHIJ',
      SWB_PUSH_APNS_TOPIC: 'com.example.chat',
      SWB_PUSH_APNS_ORIGIN: 'https://127.0.0.1:8443',
      SWB_PUSH_SEND_TIMEOUT_MS: '3000',
    });
    expect(config.providers.webpush).toMatchObject({
      publicKey: vapid.SWB_PUSH_VAPID_PUBLIC_KEY,
      subject: 'mailto:ops@example.com',
      allowedHosts: ['127.0.0.1', '.push.example.com'],
      timeoutMs: 3000,
    });
    expect(config.providers.fcm).toMatchObject({ origin: 'http://127.0.0.1:9000', timeoutMs: 3000 });
    expect(config.providers.apns).toMatchObject({
      keyId: 'ABC123DEFG',
      teamId: 'DEF123GHIJ',
      topic: 'com.example.chat',
      origin: 'https://127.0.0.1:8443',
    });
  });

  it.each([
    [{ SWB_PUSH_COLLAPSE_INTERVAL_MS: 'soon' }, 'SWB_PUSH_COLLAPSE_INTERVAL_MS'],
    [{ SWB_PUSH_MAX_ATTEMPTS: '0' }, 'SWB_PUSH_MAX_ATTEMPTS'],
    [{ SWB_PUSH_BACKOFF_BASE_MS: '5000', SWB_PUSH_BACKOFF_MAX_MS: '1000' }, 'SWB_PUSH_BACKOFF_MAX_MS'],
    [{ SWB_PUSH_DEDUP_WINDOW_MS: '-1' }, 'SWB_PUSH_DEDUP_WINDOW_MS'],
    [{ SWB_PUSH_CONCURRENCY: '0' }, 'SWB_PUSH_CONCURRENCY'],
    [{ SWB_PUSH_GROUP: 'bad group' }, 'SWB_PUSH_GROUP'],
    [{ SWB_PUSH_VAPID_SUBJECT: 'mailto:ops@example.com' }, 'SWB_PUSH_VAPID_PUBLIC_KEY'],
    [{ ...generateVapidEnv(), SWB_PUSH_VAPID_PUBLIC_KEY: 'abc' }, 'SWB_PUSH_VAPID_PUBLIC_KEY'],
    [{ ...generateVapidEnv(), SWB_PUSH_VAPID_PRIVATE_KEY: 'abc' }, 'SWB_PUSH_VAPID_PRIVATE_KEY'],
    [{ ...generateVapidEnv(), SWB_PUSH_VAPID_SUBJECT: 'ops' }, 'SWB_PUSH_VAPID_SUBJECT'],
    [{ SWB_PUSH_FCM_API_ORIGIN: 'http://127.0.0.1:1' }, 'SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE'],
    [{ SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE: '/nonexistent/account.json' }, 'SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE'],
    [{ SWB_PUSH_APNS_KEY_ID: 'ABC123DEFG' }, 'SWB_PUSH_APNS_KEY_FILE'],
  ])('rejects %j naming %s', (env, variable) => {
    expect(configErrorOf(env).variable).toBe(variable);
  });

  it('rejects a service account file without a private key', () => {
    const error = configErrorOf({
      SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE: writeFile('partial.json', JSON.stringify({ project_id: 'p' })),
    });
    expect(error.message).toContain('has no "client_email"');
  });

  it('rejects a malformed APNs key id and origin', () => {
    const base = {
      SWB_PUSH_APNS_KEY_FILE: writeFile('apns.p8', '-----BEGIN PRIVATE KEY-----\n'),
      SWB_PUSH_APNS_KEY_ID: 'ABC123DEFG',
      SWB_PUSH_APNS_TEAM_ID: 'DEF123GHIJ',
      SWB_PUSH_APNS_TOPIC: 'com.example.chat',
    };
    expect(configErrorOf({ ...base, SWB_PUSH_APNS_KEY_ID: 'abc' }).variable).toBe('SWB_PUSH_APNS_KEY_ID');
    expect(configErrorOf({ ...base, SWB_PUSH_APNS_ORIGIN: 'http://127.0.0.1:1' }).variable).toBe(
      'SWB_PUSH_APNS_ORIGIN',
    );
  });
});

describe('push worker main', () => {
  it('exits 78 naming a bad collapse interval', async () => {
    const outcome = await runEntry('services/push-worker/src/main.ts', {
      SWB_PUSH_COLLAPSE_INTERVAL_MS: '-5',
    });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'push-worker: invalid configuration: SWB_PUSH_COLLAPSE_INTERVAL_MS: must be >= 0, got -5',
    );
  });

  it('exits 78 naming a VAPID key that does not match its private key', async () => {
    const outcome = await runEntry('services/push-worker/src/main.ts', {
      ...generateVapidEnv(),
      SWB_PUSH_VAPID_PUBLIC_KEY: generateVapidEnv().SWB_PUSH_VAPID_PUBLIC_KEY!,
    });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain('push-worker: invalid configuration: SWB_PUSH_VAPID_PUBLIC_KEY:');
  });
});
