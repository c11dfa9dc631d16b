import { randomUUID } from 'node:crypto';
import cassandra, { type Client } from 'cassandra-driver';
import { ConfigError, SwitchboardError, UnavailableError, type Logger } from '@switchboard/core';
import {
  CONSISTENCY_LEVELS,
  SERIAL_CONSISTENCY_LEVELS,
  formatReplication,
  type ResolvedOptions,
} from './cassandra-options.ts';
import { buildMigrations } from './schema.ts';
import { migrateSchema } from './schema-migrations.ts';
import { buildStatements } from './statements.ts';

/** Keyspace creation waits for every node to agree on the schema. */
const SCHEMA_TIMEOUT_MS = 60_000;

const SETTING_BUCKET_SIZE = 'bucket_size';

/**
 * Connects a driver client, creates the keyspace when it is missing, applies pending schema
 * migrations and checks the bucket size against the one the keyspace was created with.
 *
 * The client's default consistency is the configured one, so every statement without its own
 * level uses it. On failure the client is shut down, a changed bucket size throws a
 * ConfigError, and anything else an UnavailableError with the driver error as `cause`.
 */
export async function openClient(options: ResolvedOptions, logger: Logger): Promise<Client> {
  const { keyspace, contactPoints } = options;
  const client = new cassandra.Client({
    contactPoints,
    localDataCenter: options.localDataCenter,
    ...options.clientOptions,
    policies: {
      // The driver's default waits up to 10 minutes between attempts to reach a node that went
      // down, so a restarted Cassandra stayed unused long after it was back. 5 s at most keeps
      // that window short at a cost of one connection attempt per node every 5 s while it is down.
      reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 5000, false),
      ...options.clientOptions.policies,
    },
    queryOptions: {
      consistency: CONSISTENCY_LEVELS[options.consistency],
      serialConsistency: SERIAL_CONSISTENCY_LEVELS[options.serialConsistency],
      prepare: true,
      ...options.clientOptions.queryOptions,
    },
  });
  client.on('log', (level: string, source: string, message: string) => {
    if (level === 'warning' || level === 'error') {
      logger.warn({ keyspace, source, detail: message }, 'cassandra driver warning');
    }
  });

  try {
    await client.connect();
    // Schema statements take no bind markers and run once, so they are not prepared.
    await client.execute(
      `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${formatReplication(options.replication)}`,
      [],
      { readTimeout: SCHEMA_TIMEOUT_MS },
    );
    await migrateSchema(client, {
      keyspace,
      migrations: buildMigrations(keyspace),
      owner: randomUUID(),
      serialConsistency: SERIAL_CONSISTENCY_LEVELS[options.serialConsistency],
      logger,
    });
    await assertBucketSize(client, options);
  } catch (err) {
    await client.shutdown().catch(() => undefined);
    if (err instanceof SwitchboardError || err instanceof ConfigError) throw err;
    throw new UnavailableError(
      `could not open Cassandra keyspace ${keyspace} through ${contactPoints.join(', ')}: ${describeError(err)}`,
      { cause: err },
    );
  }
  return client;
}

/**
 * Records the bucket size in the keyspace on its first start and rejects a different one
 * later, because rows already written sit in buckets of the recorded size.
 */
async function assertBucketSize(client: Client, options: ResolvedOptions): Promise<void> {
  const cql = buildStatements(options.keyspace);
  const configured = String(options.bucketSize);
  const claim = await client.execute(cql.claimSetting, [SETTING_BUCKET_SIZE, configured], { prepare: true });
  const stored = claim.wasApplied() ? configured : (claim.first()['value'] as string);
  if (stored !== configured) {
    throw new ConfigError(
      'bucketSize',
      `keyspace ${options.keyspace} was created with bucket size ${stored}, got ${configured}. ` +
        'Set bucketSize to the recorded value, because it cannot change once rows are written',
    );
  }
}

/**
 * Returns a one-line account of a driver error.
 *
 * cassandra-driver 4.10 formats a NoHostAvailableError's message with the first inner error's
 * whole stack, so its inner errors are listed here by their messages instead.
 */
export function describeError(err: unknown): string {
  if (err instanceof cassandra.errors.NoHostAvailableError) {
    const inner = Object.entries((err.innerErrors ?? {}) as Record<string, unknown>);
    if (inner.length > 0) {
      const hosts = inner.map(
        ([host, cause]) => `${host}: ${cause instanceof Error ? cause.message : String(cause)}`,
      );
      return `no host could serve the request (${hosts.join('; ')})`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}
