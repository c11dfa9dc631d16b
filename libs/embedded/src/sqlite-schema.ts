import type { Database } from 'better-sqlite3';

/**
 * Schema migrations; entry i moves the database from `user_version` i to i + 1.
 *
 * Append new entries and never edit a released one, because databases in the field
 * already ran it.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

  -- last_seq is the sequencer's counter of the conversation.
  CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  CREATE TABLE members (
    conv TEXT NOT NULL,
    user TEXT NOT NULL,
    delivered_seq INTEGER NOT NULL DEFAULT 0,
    read_seq INTEGER NOT NULL DEFAULT 0,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (conv, user)
  ) WITHOUT ROWID;
  CREATE INDEX members_by_user ON members (user, conv);

  CREATE TABLE messages (
    conv TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    client_id TEXT NOT NULL,
    body TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (conv, seq)
  ) WITHOUT ROWID;

  -- A message entry points at messages (conv, seq); a receipt entry carries its receipt.
  CREATE TABLE stream (
    user TEXT NOT NULL,
    pos INTEGER NOT NULL,
    conv TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    actor TEXT NOT NULL,
    receipt TEXT,
    ts INTEGER NOT NULL,
    PRIMARY KEY (user, pos)
  ) WITHOUT ROWID;

  -- head is the sequencer's counter of the user's stream positions.
  CREATE TABLE stream_heads (
    user TEXT PRIMARY KEY,
    head INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE reservations (
    sender TEXT NOT NULL,
    client_id TEXT NOT NULL,
    conv TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    positions TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (sender, client_id)
  ) WITHOUT ROWID;
  CREATE INDEX reservations_by_age ON reservations (created_at);
  `,
  `
  -- event is the JSON of the group change that a system message records. hidden_from names a
  -- user who blocked the sender of a one-to-one message and must never see it.
  ALTER TABLE messages ADD COLUMN event TEXT;
  ALTER TABLE messages ADD COLUMN hidden_from TEXT;

  -- joined_seq is NULL while an addition to a group is in flight, and left_seq is NULL while
  -- the user is a member. One-to-one members keep the defaults.
  ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
  ALTER TABLE members ADD COLUMN joined_seq INTEGER DEFAULT 0;
  ALTER TABLE members ADD COLUMN left_seq INTEGER;

  CREATE TABLE groups (
    conv TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE blocks (
    blocker TEXT NOT NULL,
    blocked TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked)
  ) WITHOUT ROWID;
  CREATE INDEX blocks_by_blocked ON blocks (blocked, blocker);
  `,
  `
  -- A Web Push row sets endpoint, p256dh and auth; an FCM or APNs row sets token.
  CREATE TABLE push_subscriptions (
    user TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    endpoint TEXT,
    p256dh TEXT,
    auth TEXT,
    token TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user, id)
  ) WITHOUT ROWID;

  -- muted_conversations is a JSON array of conversation ids.
  CREATE TABLE push_settings (
    user TEXT PRIMARY KEY,
    muted INTEGER NOT NULL,
    previews INTEGER NOT NULL,
    muted_conversations TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
];

/** Schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema up to SCHEMA_VERSION, one transaction per migration.
 *
 * Throws when the database was written by a newer build, rather than guess at its tables.
 */
export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `database schema version ${current} is newer than ${SCHEMA_VERSION}, the latest this build supports`,
    );
  }
  for (let version = current; version < SCHEMA_VERSION; version += 1) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
