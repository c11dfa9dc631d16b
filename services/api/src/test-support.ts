import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import {
  createLogger,
  TokenIssuer,
  type MessageRecord,
  type ReceiptRecord,
  type Sequencer,
  type Store,
} from '@switchboard/core';
import { openSqlite } from '@switchboard/embedded';
import type { ReceiptKind } from '@switchboard/protocol';
import { buildApi } from './api.ts';
import type { AuthSession } from './auth-routes.ts';

/** Secret of the test token issuer. It is 32 bytes long, the minimum that TokenIssuer accepts. */
export const TEST_SECRET = 'test-secret-of-thirty-two-bytes!';

/** An API app over an in-memory SQLite store, with the parts a test reaches into. */
export interface TestApi {
  app: FastifyInstance;
  store: Store;
  sequencer: Sequencer;
  tokens: TokenIssuer;
  close(): Promise<void>;
}

/** Builds an API app over `openSqlite(':memory:')`. Close it after the test. */
export async function startTestApi(
  options: { historyPageMax?: number; now?: () => number; refreshTtlSeconds?: number } = {},
): Promise<TestApi> {
  const sqlite = await openSqlite(':memory:');
  const tokens = new TokenIssuer({
    secret: TEST_SECRET,
    accessTtlSeconds: 900,
    refreshTtlSeconds: options.refreshTtlSeconds ?? 3600,
  });
  const app = buildApi({
    store: sqlite.store,
    tokens,
    logger: createLogger('api', { level: 'silent' }),
    historyPageMax: options.historyPageMax,
    now: options.now,
  });
  await app.ready();

  return {
    app,
    store: sqlite.store,
    sequencer: sqlite.sequencer,
    tokens,
    async close() {
      await app.close();
      await sqlite.close();
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
