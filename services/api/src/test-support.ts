import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import {
  createLogger,
  GroupService,
  TokenIssuer,
  type MessageRecord,
  type PushRegistry,
  type ReceiptRecord,
  type Sequencer,
  type Store,
} from '@switchboard/core';
import { FileLog, InProcessBus, openSqlite } from '@switchboard/embedded';
import type { ReceiptKind } from '@switchboard/protocol';
import { DEFAULT_WEB_PUSH_HOSTS } from '@switchboard/push';
import { buildApi } from './api.ts';
import type { PushRoutesConfig } from './push-routes.ts';
import type { AuthSession } from './auth-routes.ts';

/** Secret of the test token issuer. It is 32 bytes long, the minimum that TokenIssuer accepts. */
export const TEST_SECRET = 'test-secret-of-thirty-two-bytes!';

/** An API app over an in-memory SQLite store, with the parts a test reaches into. */
export interface TestApi {
  app: FastifyInstance;
  store: Store;
  sequencer: Sequencer;
  tokens: TokenIssuer;
  /** The bus that group and block changes are announced on. */
  bus: InProcessBus;
  /** The log that group changes are appended to; nothing copies it into the store. */
  log: FileLog;
  /** The registry behind the /v1/push routes. */
  push: PushRegistry;
  close(): Promise<void>;
}

/** Builds an API app over `openSqlite(':memory:')`. Close it after the test. */
export async function startTestApi(
  options: {
    historyPageMax?: number;
    now?: () => number;
    refreshTtlSeconds?: number;
    largeGroupThreshold?: number;
    /** Settings of the /v1/push routes; Web Push, FCM and APNs off and the public push hosts by default. */
    push?: Partial<PushRoutesConfig>;
  } = {},
): Promise<TestApi> {
  const sqlite = await openSqlite(':memory:');
  const tokens = new TokenIssuer({
    secret: TEST_SECRET,
    accessTtlSeconds: 900,
    refreshTtlSeconds: options.refreshTtlSeconds ?? 3600,
  });
  const logger = createLogger('api', { level: 'silent' });
  const logDir = mkdtempSync(join(tmpdir(), 'switchboard-api-log-'));
  const log = await FileLog.open({ dir: logDir });
  const bus = new InProcessBus();
  const groups = new GroupService({
    store: sqlite.store,
    sequencer: sqlite.sequencer,
    log,
    bus,
    logger,
    largeGroupThreshold: options.largeGroupThreshold,
  });
  const app = buildApi({
    store: sqlite.store,
    tokens,
    logger,
    historyPageMax: options.historyPageMax,
    now: options.now,
    groups,
    bus,
    push: {
      registry: sqlite.push,
      config: {
        vapidPublicKey: null,
        fcm: false,
        apns: false,
        allowedHosts: DEFAULT_WEB_PUSH_HOSTS,
        ...options.push,
      },
    },
  });
  await app.ready();

  return {
    app,
    store: sqlite.store,
    sequencer: sqlite.sequencer,
    tokens,
    bus,
    log,
    push: sqlite.push,
    async close() {
      await app.close();
      await log.close();
      await bus.close();
      await sqlite.close();
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/** Registers a user through the API and returns the session. Any status but 201 fails the test. */
export async function registerUser(
  app: FastifyInstance,
  username: string,
  password = 'correct horse battery',
): Promise<AuthSession> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { username, password },
  });
  if (response.statusCode !== 201) {
    throw new Error(`registering "${username}" returned ${response.statusCode}: ${response.body}`);
  }
  return response.json<AuthSession>();
}

/**
 * Creates a user directly in the store and issues it tokens, for tests of the routes behind
 * authentication. It skips the scrypt hash that registration costs.
 */
export async function createTestUser(api: TestApi, username: string): Promise<AuthSession> {
  const user = { id: `u_${username}`, username, displayName: username };
  await api.store.createUser({ ...user, passwordHash: 'scrypt$unusable', createdAt: Date.now() });
  const refresh = api.tokens.mintRefresh();
  await api.store.saveRefreshToken(refresh.hash, user.id, refresh.expiresAt);
  return {
    user,
    accessToken: await api.tokens.issueAccess(user.id),
    refreshToken: refresh.token,
    expiresIn: api.tokens.accessTtlSeconds,
  };
}

/** Sends a request with `Authorization: Bearer <accessToken>`. */
export function injectAs(
  app: FastifyInstance,
  accessToken: string,
  options: InjectOptions,
): Promise<LightMyRequestResponse> {
  return app.inject({
    ...options,
    headers: { ...options.headers, authorization: `Bearer ${accessToken}` },
  });
}

let messageCount = 0;

/**
 * Sequences a message with the real sequencer and writes it through `store.applyRecords`,
 * as the persister does, with a stream entry for every member.
 */
export async function applyMessage(
  api: TestApi,
  conv: string,
  from: string,
  body: string,
  members: string[],
): Promise<MessageRecord> {
  messageCount += 1;
  const clientId = `m-${messageCount}`;
  const now = Date.now();
  const reservation = await api.sequencer.reserve({ sender: from, clientId, conv, targets: members, now });
  const record: MessageRecord = {
    kind: 'message',
    conv,
    seq: reservation.seq,
    from,
    id: clientId,
    body,
    ts: reservation.ts,
    targets: reservation.positions,
  };
  await api.store.applyRecords([record]);
  return record;
}

/** Moves a member's delivered or read watermark through `store.applyRecords`. */
export async function applyReceipt(
  api: TestApi,
  conv: string,
  user: string,
  receipt: ReceiptKind,
  seq: number,
  members: string[],
): Promise<ReceiptRecord> {
  const positions = await api.sequencer.nextPositions(members);
  const record: ReceiptRecord = {
    kind: 'receipt',
    conv,
    user,
    receipt,
    seq,
    ts: Date.now(),
    targets: positions,
  };
  await api.store.applyRecords([record]);
  return record;
}

/** Returns the `error` object of an error reply. */
export function errorOf(response: LightMyRequestResponse): {
  code: string;
  message: string;
  retryable: boolean;
} {
  return response.json<{ error: { code: string; message: string; retryable: boolean } }>().error;
}
