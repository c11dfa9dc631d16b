import type { Database, Statement } from 'better-sqlite3';
import {
  DEFAULT_PUSH_SETTINGS,
  type PushRegistry,
  type PushSettings,
  type PushSubscription,
} from '@switchboard/core';

interface SubscriptionRow {
  user: string;
  id: string;
  kind: string;
  endpoint: string | null;
  p256dh: string | null;
  auth: string | null;
  token: string | null;
  created_at: number;
}

interface SettingsRow {
  muted: number;
  previews: number;
  muted_conversations: string;
}

/** Push subscriptions and settings of the embedded profile, in tables of the store's database. */
export class SqlitePushRegistry implements PushRegistry {
  readonly #upsertSubscription: Statement;
  readonly #deleteSubscription: Statement;
  readonly #selectSubscriptions: Statement;
  readonly #selectSettings: Statement;
  readonly #upsertSettings: Statement;

  constructor(db: Database) {
    this.#upsertSubscription = db.prepare(
      `INSERT INTO push_subscriptions (user, id, kind, endpoint, p256dh, auth, token, created_at)
       VALUES (@user, @id, @kind, @endpoint, @p256dh, @auth, @token, @created_at)
       ON CONFLICT (user, id) DO UPDATE SET kind = excluded.kind, endpoint = excluded.endpoint,
         p256dh = excluded.p256dh, auth = excluded.auth, token = excluded.token,
         created_at = excluded.created_at`,
    );
    this.#deleteSubscription = db.prepare('DELETE FROM push_subscriptions WHERE user = ? AND id = ?');
    this.#selectSubscriptions = db.prepare(
      'SELECT * FROM push_subscriptions WHERE user = ? ORDER BY created_at, id',
    );
    this.#selectSettings = db.prepare(
      'SELECT muted, previews, muted_conversations FROM push_settings WHERE user = ?',
    );
    this.#upsertSettings = db.prepare(
      `INSERT INTO push_settings (user, muted, previews, muted_conversations) VALUES (?, ?, ?, ?)
       ON CONFLICT (user) DO UPDATE SET muted = excluded.muted, previews = excluded.previews,
         muted_conversations = excluded.muted_conversations`,
    );
  }

  async addSubscription(subscription: PushSubscription): Promise<void> {
    const web = subscription.kind === 'webpush' ? subscription : null;
    this.#upsertSubscription.run({
      user: subscription.user,
      id: subscription.id,
      kind: subscription.kind,
      endpoint: web?.endpoint ?? null,
      p256dh: web?.keys.p256dh ?? null,
      auth: web?.keys.auth ?? null,
      token: subscription.kind === 'webpush' ? null : subscription.token,
      created_at: subscription.createdAt,
    });
  }

  async removeSubscription(user: string, id: string): Promise<boolean> {
    return this.#deleteSubscription.run(user, id).changes > 0;
  }

  async listSubscriptions(user: string): Promise<PushSubscription[]> {
    const rows = this.#selectSubscriptions.all(user) as SubscriptionRow[];
    return rows.map(toSubscription);
  }

  async getSettings(user: string): Promise<PushSettings> {
    const row = this.#selectSettings.get(user) as SettingsRow | undefined;
    if (row === undefined) return { ...DEFAULT_PUSH_SETTINGS, mutedConversations: [] };
    return {
      muted: row.muted === 1,
      previews: row.previews === 1,
      mutedConversations: JSON.parse(row.muted_conversations) as string[],
    };
  }

  async setSettings(user: string, settings: PushSettings): Promise<void> {
    this.#upsertSettings.run(
      user,
      settings.muted ? 1 : 0,
      settings.previews ? 1 : 0,
      JSON.stringify(settings.mutedConversations),
    );
  }
}

function toSubscription(row: SubscriptionRow): PushSubscription {
  const common = { id: row.id, user: row.user, createdAt: row.created_at };
  if (row.kind === 'webpush') {
    return {
      kind: 'webpush',
      endpoint: row.endpoint ?? '',
      keys: { p256dh: row.p256dh ?? '', auth: row.auth ?? '' },
      ...common,
    };
  }
  if (row.kind === 'fcm' || row.kind === 'apns') return { kind: row.kind, token: row.token ?? '', ...common };
  throw new Error(`push subscription ${row.id} of user ${row.user} has unknown kind ${row.kind}`);
}
