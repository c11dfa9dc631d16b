import type { Client, QueryOptions, types } from 'cassandra-driver';
import {
  DEFAULT_PUSH_SETTINGS,
  SwitchboardError,
  UnavailableError,
  type PushRegistry,
  type PushSettings,
  type PushSubscription,
} from '@switchboard/core';
import { describeError } from './cassandra-connection.ts';

/**
 * Push subscriptions and settings of the cluster profile, in tables of the store's keyspace,
 * over the store's client.
 *
 * Every driver failure surfaces as an UnavailableError with the driver error as `cause`.
 */
export class CassandraPushRegistry implements PushRegistry {
  readonly #client: Client;
  readonly #insertSubscription: string;
  readonly #deleteSubscription: string;
  readonly #selectSubscriptions: string;
  readonly #selectSettings: string;
  readonly #insertSettings: string;

  constructor(client: Client, keyspace: string) {
    this.#client = client;
    this.#insertSubscription = `INSERT INTO ${keyspace}.push_subscriptions
      (user_id, id, kind, endpoint, p256dh, auth, device_token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
    // IF EXISTS reports whether the row existed. Its Paxos round is slow, but removals are rare.
    this.#deleteSubscription = `DELETE FROM ${keyspace}.push_subscriptions WHERE user_id = ? AND id = ? IF EXISTS`;
    this.#selectSubscriptions = `SELECT user_id, id, kind, endpoint, p256dh, auth, device_token, created_at
      FROM ${keyspace}.push_subscriptions WHERE user_id = ?`;
    this.#selectSettings = `SELECT muted, previews, muted_conversations FROM ${keyspace}.push_settings
      WHERE user_id = ?`;
    this.#insertSettings = `INSERT INTO ${keyspace}.push_settings
      (user_id, muted, previews, muted_conversations) VALUES (?, ?, ?, ?)`;
  }

  async addSubscription(subscription: PushSubscription): Promise<void> {
    const web = subscription.kind === 'webpush' ? subscription : null;
    await this.#guard('store a push subscription', () =>
      this.#execute(
        this.#insertSubscription,
        [
          subscription.user,
          subscription.id,
          subscription.kind,
          web?.endpoint ?? null,
          web?.keys.p256dh ?? null,
          web?.keys.auth ?? null,
          subscription.kind === 'webpush' ? null : subscription.token,
          new Date(subscription.createdAt),
        ],
        { isIdempotent: true },
      ),
    );
  }

  async removeSubscription(user: string, id: string): Promise<boolean> {
    const result = await this.#guard('remove a push subscription', () =>
      this.#execute(this.#deleteSubscription, [user, id]),
    );
    return result.wasApplied();
  }

  async listSubscriptions(user: string): Promise<PushSubscription[]> {
    const result = await this.#guard('list push subscriptions', () =>
      this.#execute(this.#selectSubscriptions, [user]),
    );
    const subscriptions = result.rows.map(toSubscription);
    // Rows cluster by id; callers see them in registration order, as the embedded store returns them.
    return subscriptions.sort((a, b) => a.createdAt - b.createdAt || compareText(a.id, b.id));
  }

  async getSettings(user: string): Promise<PushSettings> {
    const result = await this.#guard('read push settings', () => this.#execute(this.#selectSettings, [user]));
    const row = result.first();
    if (row === null || row === undefined) return { ...DEFAULT_PUSH_SETTINGS, mutedConversations: [] };
    return {
      muted: row['muted'] === true,
      previews: row['previews'] !== false,
      // Cassandra stores an empty list as null.
      mutedConversations: (row['muted_conversations'] as string[] | null) ?? [],
    };
  }

  async setSettings(user: string, settings: PushSettings): Promise<void> {
    await this.#guard('store push settings', () =>
      this.#execute(
        this.#insertSettings,
        [user, settings.muted, settings.previews, settings.mutedConversations],
        { isIdempotent: true },
      ),
    );
  }

  #execute(query: string, params: unknown[], options: QueryOptions = {}): Promise<types.ResultSet> {
    return this.#client.execute(query, params, { prepare: true, ...options });
  }

  async #guard<T>(operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      throw new UnavailableError(`failed to ${operation} in Cassandra: ${describeError(err)}`, {
        cause: err,
      });
    }
  }
}

function toSubscription(row: types.Row): PushSubscription {
  const common = {
    id: row['id'] as string,
    user: row['user_id'] as string,
    createdAt: (row['created_at'] as Date).getTime(),
  };
  const kind = row['kind'] as string;
  if (kind === 'webpush') {
    return {
      kind: 'webpush',
      endpoint: row['endpoint'] as string,
      keys: { p256dh: row['p256dh'] as string, auth: row['auth'] as string },
      ...common,
    };
  }
  if (kind === 'fcm' || kind === 'apns') return { kind, token: row['device_token'] as string, ...common };
  throw new Error(`push subscription ${common.id} of user ${common.user} has unknown kind ${kind}`);
}

function compareText(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}
