import { createECDH } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Contact address for push services when none is configured. Operators set their own. */
export const DEFAULT_VAPID_SUBJECT = 'mailto:operator@switchboard.invalid';

type Env = Record<string, string | undefined>;

/**
 * Returns `env` with a VAPID key pair from the data directory when it configures none, so that
 * the embedded profile offers Web Push without setup. The pair is created on first start
 * (`vapid-keys.json`, readable by the owner only) and kept, because every browser subscription
 * is bound to the public key it was made with. Configured keys, even partial ones, are left for
 * the configuration readers to check.
 */
export function withVapidKeys(env: Env, dataDir: string): Env {
  if (env.SWB_PUSH_VAPID_PUBLIC_KEY !== undefined || env.SWB_PUSH_VAPID_PRIVATE_KEY !== undefined) {
    return env;
  }
  const keys = loadOrCreateVapidKeys(dataDir);
  return {
    ...env,
    SWB_PUSH_VAPID_PUBLIC_KEY: keys.publicKey,
    SWB_PUSH_VAPID_PRIVATE_KEY: keys.privateKey,
    SWB_PUSH_VAPID_SUBJECT: env.SWB_PUSH_VAPID_SUBJECT ?? DEFAULT_VAPID_SUBJECT,
  };
}

interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

function loadOrCreateVapidKeys(dataDir: string): VapidKeys {
  const path = join(dataDir, 'vapid-keys.json');
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Partial<VapidKeys>;
    if (typeof stored.publicKey === 'string' && typeof stored.privateKey === 'string') {
      return { publicKey: stored.publicKey, privateKey: stored.privateKey };
    }
    throw new Error(
      `${path} is invalid: expected a publicKey and a privateKey. Delete it to make a new pair`,
    );
  }
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const keys: VapidKeys = {
    publicKey: ecdh.getPublicKey().toString('base64url'),
    // A scalar with leading zero bytes comes back shorter, and the key format expects 32 bytes.
    privateKey: Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()])
      .subarray(-32)
      .toString('base64url'),
  };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path, JSON.stringify(keys) + '\n', { mode: 0o600 });
  return keys;
}
