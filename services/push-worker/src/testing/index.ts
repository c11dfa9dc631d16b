import { createECDH } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PushJob, PushSubscription } from '@switchboard/core';
import { FakeApnsServer, FakeFcmServer, FakeWebPushService } from '@switchboard/push/testing';

/** The three loopback push services, and the SWB_PUSH_ variables that point a worker at them. */
export interface PushFakes {
  webpush: FakeWebPushService;
  fcm: FakeFcmServer;
  apns: FakeApnsServer;
  /** Provider variables for all three, with key files written to a temporary directory. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts the fakes and writes the FCM service account, the APNs key and the APNs CA to files. */
export async function startPushFakes(): Promise<PushFakes> {
  const [webpush, fcm, apns] = await Promise.all([
    FakeWebPushService.start(),
    FakeFcmServer.start(),
    FakeApnsServer.start(),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-push-keys-'));
  const serviceAccountFile = join(dir, 'fcm-service-account.json');
  writeFileSync(serviceAccountFile, JSON.stringify(fcm.serviceAccount));
  const apnsKeyFile = join(dir, 'apns-key.p8');
  writeFileSync(apnsKeyFile, apns.credentials.privateKey);
  const env: Record<string, string> = {
    ...generateVapidEnv(),
    SWB_PUSH_ALLOWED_HOSTS: '127.0.0.1',
    SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE: serviceAccountFile,
    SWB_PUSH_FCM_API_ORIGIN: fcm.origin,
    SWB_PUSH_APNS_KEY_FILE: apnsKeyFile,
    SWB_PUSH_APNS_KEY_ID: apns.credentials.keyId,
    SWB_PUSH_APNS_TEAM_ID: apns.credentials.teamId,
    SWB_PUSH_APNS_TOPIC: apns.credentials.topic,
    SWB_PUSH_APNS_ORIGIN: apns.origin,
    SWB_PUSH_SEND_TIMEOUT_MS: '5000',
  };
  if (apns.ca !== undefined) {
    const caFile = join(dir, 'apns-ca.pem');
    writeFileSync(caFile, apns.ca);
    env.SWB_PUSH_APNS_CA_FILE = caFile;
  }
  return {
    webpush,
    fcm,
    apns,
    env,
    async close() {
      await Promise.all([webpush.close(), fcm.close(), apns.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Generates a VAPID key pair and returns it as SWB_PUSH_VAPID_ variables. */
export function generateVapidEnv(): Record<string, string> {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    SWB_PUSH_VAPID_PUBLIC_KEY: ecdh.getPublicKey('base64url'),
    SWB_PUSH_VAPID_PRIVATE_KEY: ecdh.getPrivateKey('base64url'),
    SWB_PUSH_VAPID_SUBJECT: 'mailto:ops@example.com',
  };
}

/** Registers a new Web Push subscription of `user` at the fake and returns it. */
export function webPushSubscription(fakes: PushFakes, user: string, id = `web-${user}`): PushSubscription {
  const browser = fakes.webpush.createSubscription();
  return { kind: 'webpush', endpoint: browser.endpoint, keys: browser.keys, id, user, createdAt: Date.now() };
}

/** Builds the push job that a chat node appends for message `seq` of `conv` to `user`. */
export function buildPushJob(
  user: string,
  conv: string,
  seq: number,
  overrides: Partial<Omit<PushJob, 'user' | 'conv' | 'seq'>> = {},
): PushJob {
  return {
    id: `${conv}:${seq}:${user}`,
    user,
    conv,
    seq,
    from: 'alice',
    kind: 'message',
    body: `message ${seq}`,
    ts: Date.now(),
    attempts: 0,
    ...overrides,
  };
}
