/** One schema change: CQL statements that are safe to run again (`IF NOT EXISTS`), in order. */
export interface Migration {
  version: number;
  description: string;
  statements: string[];
}

/** Characters of the user name that pick its users_by_prefix partition. */
export const USER_PREFIX_LENGTH = 3;

/** Partitions per name prefix in users_by_prefix, picked by a hash of the full name. */
export const USER_PREFIX_SHARDS = 8;

/**
 * Builds the migrations of `keyspace`. Migration i has version i + 1.
 *
 * Append new migrations and never edit a released one, because keyspaces in the field
 * already ran it. Table names are qualified with the keyspace, because one client may serve
 * several keyspaces (tests do) and `USE` would change it for every connection.
 */
export function buildMigrations(keyspace: string): Migration[] {
  const table = (name: string) => `${keyspace}.${name}`;
  return [
    {
      version: 1,
      description: 'users, tokens, conversations, messages and sync streams',
      statements: [
        // Settings fixed at the first start, such as the bucket size.
        `CREATE TABLE IF NOT EXISTS ${table('store_settings')} (
          name text PRIMARY KEY,
          value text
        )`,

        `CREATE TABLE IF NOT EXISTS ${table('users')} (
          id text PRIMARY KEY,
          username text,
          display_name text,
          password_hash text,
          created_at timestamp
        )`,
        // Lower-case name to id, claimed with INSERT ... IF NOT EXISTS so a name is taken once.
        `CREATE TABLE IF NOT EXISTS ${table('users_by_name')} (
          username text PRIMARY KEY,
          id text
        )`,
        // Prefix search. A partition is the first USER_PREFIX_LENGTH characters of the name
        // plus a shard from a hash of the name, so a popular prefix spreads over
        // USER_PREFIX_SHARDS partitions. The rows carry only name and id to stay small.
        `CREATE TABLE IF NOT EXISTS ${table('users_by_prefix')} (
          prefix text,
          shard int,
          username text,
          id text,
          PRIMARY KEY ((prefix, shard), username)
        )`,

        // Rows expire by TTL, so used-up tokens need no clean-up job.
        `CREATE TABLE IF NOT EXISTS ${table('refresh_tokens')} (
          token_hash text PRIMARY KEY,
          user_id text,
          expires_at timestamp
        )`,

        `CREATE TABLE IF NOT EXISTS ${table('conversations')} (
          id text PRIMARY KEY,
          kind text,
          created_at timestamp
        )`,
        // The member list and each member's watermarks. delivered_seq and read_seq are
        // written with USING TIMESTAMP equal to their value, so the highest value wins.
        `CREATE TABLE IF NOT EXISTS ${table('members')} (
          conv text,
          user_id text,
          joined_at timestamp,
          delivered_seq bigint,
          read_seq bigint,
          PRIMARY KEY (conv, user_id)
        )`,
        // "My conversations". It is not sorted by activity, because last activity changes
        // with every message and a clustering column cannot be updated in place.
        `CREATE TABLE IF NOT EXISTS ${table('conversations_by_user')} (
          user_id text,
          conv text,
          kind text,
          created_at timestamp,
          PRIMARY KEY (user_id, conv)
        )`,

        // bucket = floor(seq / bucket size), which bounds the partition size.
        `CREATE TABLE IF NOT EXISTS ${table('messages')} (
          conv text,
          bucket bigint,
          seq bigint,
          sender text,
          client_id text,
          body text,
          ts timestamp,
          PRIMARY KEY ((conv, bucket), seq)
        ) WITH CLUSTERING ORDER BY (seq DESC)`,
        // The highest sequence number and its message, written with USING TIMESTAMP equal
        // to the sequence number, so the highest one wins whatever order writes arrive in.
        `CREATE TABLE IF NOT EXISTS ${table('conversation_heads')} (
          conv text PRIMARY KEY,
          max_seq bigint,
          last_sender text,
          last_client_id text,
          last_body text,
          last_ts timestamp
        )`,

        // bucket = floor(pos / bucket size). A message entry points at its messages row
        // through (conv, seq); a receipt entry carries the receipt itself.
        `CREATE TABLE IF NOT EXISTS ${table('stream')} (
          user_id text,
          bucket bigint,
          pos bigint,
          kind text,
          conv text,
          seq bigint,
          actor text,
          receipt text,
          ts timestamp,
          PRIMARY KEY ((user_id, bucket), pos)
        ) WITH CLUSTERING ORDER BY (pos ASC)`,
        // Written with USING TIMESTAMP equal to the position, like conversation_heads.
        `CREATE TABLE IF NOT EXISTS ${table('stream_heads')} (
          user_id text PRIMARY KEY,
          max_pos bigint
        )`,
      ],
    },
    {
      version: 2,
      description: 'groups, group membership, system messages and blocks',
      statements: [
        // event is the JSON of the group change that a system message records. hidden_from
        // names a user who blocked the sender of a one-to-one message and must never see it.
        `ALTER TABLE ${table('messages')} ADD IF NOT EXISTS (event text, hidden_from text)`,
        `ALTER TABLE ${table('conversation_heads')} ADD IF NOT EXISTS (last_event text, last_hidden_from text)`,
        // Group members only. joined_seq is -1 while an addition is in flight, and left_seq is
        // null while the user is a member, 0 while a removal is in flight. One-to-one member
        // rows leave all three null.
        `ALTER TABLE ${table('members')} ADD IF NOT EXISTS (role text, joined_seq bigint, left_seq bigint)`,
        `CREATE TABLE IF NOT EXISTS ${table('groups')} (
          conv text PRIMARY KEY,
          kind text,
          name text,
          created_by text,
          created_at timestamp,
          version text
        )`,
        // Blocks by blocker, and the same rows by blocked user, so both lists are one partition.
        `CREATE TABLE IF NOT EXISTS ${table('blocks')} (
          blocker text,
          blocked text,
          created_at timestamp,
          PRIMARY KEY (blocker, blocked)
        )`,
        `CREATE TABLE IF NOT EXISTS ${table('blocks_by_blocked')} (
          blocked text,
          blocker text,
          PRIMARY KEY (blocked, blocker)
        )`,
      ],
    },
    {
      version: 3,
      description: 'push subscriptions and settings',
      statements: [
        // A Web Push row sets endpoint, p256dh and auth; an FCM or APNs row sets device_token
        // (`token` is a reserved word in CQL).
        `CREATE TABLE IF NOT EXISTS ${table('push_subscriptions')} (
          user_id text,
          id text,
          kind text,
          endpoint text,
          p256dh text,
          auth text,
          device_token text,
          created_at timestamp,
          PRIMARY KEY (user_id, id)
        )`,
        `CREATE TABLE IF NOT EXISTS ${table('push_settings')} (
          user_id text PRIMARY KEY,
          muted boolean,
          previews boolean,
          muted_conversations list<text>
        )`,
      ],
    },
  ];
}

/** Builds the table of applied migrations, which is created before any migration runs. */
export function buildMigrationsTable(keyspace: string): string {
  return `CREATE TABLE IF NOT EXISTS ${keyspace}.schema_migrations (
    version int PRIMARY KEY,
    description text,
    state text,
    owner text,
    claimed_at timestamp,
    applied_at timestamp
  )`;
}
