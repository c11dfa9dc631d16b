import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, types } from 'cassandra-driver';
import { UnavailableError, type Logger } from '@switchboard/core';
import { buildMigrationsTable, type Migration } from './schema.ts';

export interface MigrateOptions {
  keyspace: string;
  migrations: Migration[];
  /** Id of this process, written into the claim of a migration it applies. */
  owner: string;
  /** Consistency of the reads that follow another process's claim. */
  serialConsistency: types.consistencies;
  logger: Logger;
  /** How long another process's claim is honoured before this one takes over; default 120 s. */
  leaseMs?: number;
  /** How long to wait for migrations that other processes apply, in total; default 300 s. */
  waitTimeoutMs?: number;
  /** Pause between two reads of another process's claim; default 500 ms. */
  pollIntervalMs?: number;
}

/** Schema changes wait for every node to agree, which can take longer than a plain request. */
const SCHEMA_TIMEOUT_MS = 60_000;

interface ClaimState {
  state: string;
  owner: string;
  claimedAt: number;
}

/**
 * Applies every migration not yet recorded as applied, in version order, and returns the
 * versions that this call applied. An up-to-date keyspace returns [] and changes nothing.
 *
 * A process claims a migration with `INSERT ... IF NOT EXISTS` on its schema_migrations row
 * before running it, so two processes that start at once do not run the same schema change
 * concurrently. Concurrent creation of one table can leave Cassandra 5.0 nodes with different
 * table ids. The other process waits until the row's state is `applied`. A claim older than
 * `leaseMs` is taken over, because its owner probably died, and running it again is safe
 * since every statement is `IF NOT EXISTS`. The claim is not renewed, so a migration that
 * runs longer than `leaseMs` may run twice at once.
 */
export async function migrateSchema(client: Client, options: MigrateOptions): Promise<number[]> {
  const { keyspace, migrations, owner, logger } = options;
  const table = `${keyspace}.schema_migrations`;
  const leaseMs = options.leaseMs ?? 120_000;
  const deadline = Date.now() + (options.waitTimeoutMs ?? 300_000);
  const pollIntervalMs = options.pollIntervalMs ?? 500;

  // NOTE: this table and the keyspace are created without a claim, since the claim lives in
  // them. Two first starts at once may race on them; start one process first on a new cluster.
  await client.execute(buildMigrationsTable(keyspace), [], { readTimeout: SCHEMA_TIMEOUT_MS });
  const applied = await readAppliedVersions(client, table);
  warnAboutNewerVersions(applied, migrations, logger);

  const ranNow: number[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;

    const mustRun = await claimMigration(client, table, migration, {
      owner,
      leaseMs,
      deadline,
      pollIntervalMs,
      serialConsistency: options.serialConsistency,
      logger,
    });
    if (!mustRun) continue;

    for (const statement of migration.statements) {
      await client.execute(statement, [], { readTimeout: SCHEMA_TIMEOUT_MS });
    }
    const marked = await client.execute(
      `UPDATE ${table} SET state = 'applied', applied_at = ? WHERE version = ? IF owner = ?`,
      [new Date(), migration.version, owner],
      { prepare: true },
    );
    if (!marked.wasApplied()) {
      // Our claim expired and another process took over; it runs the same statements and marks them.
      logger.warn({ version: migration.version }, 'schema migration claim lost before it was marked applied');
    }
    logger.info(
      { keyspace, version: migration.version, description: migration.description },
      'schema migration applied',
    );
    ranNow.push(migration.version);
  }
  return ranNow;
}

async function readAppliedVersions(client: Client, table: string): Promise<Set<number>> {
  const result = await client.execute(`SELECT version, state FROM ${table}`, [], { prepare: true });
  const applied = new Set<number>();
  for (const row of result.rows) {
    if (row['state'] === 'applied') applied.add(row['version'] as number);
  }
  return applied;
}

// A newer build may run beside this one during a rolling upgrade. Its migrations only add
// tables or columns, so this build keeps working, and refusing to start would stall the upgrade.
function warnAboutNewerVersions(applied: Set<number>, migrations: Migration[], logger: Logger): void {
  const latest = migrations.at(-1)?.version ?? 0;
  const newer = [...applied].filter((version) => version > latest);
  if (newer.length > 0) {
    logger.warn({ latest, newer }, 'keyspace has schema migrations newer than this build');
  }
}

interface ClaimOptions {
  owner: string;
  leaseMs: number;
  deadline: number;
  pollIntervalMs: number;
  serialConsistency: types.consistencies;
  logger: Logger;
}

/** Returns true when this process now owns the migration, false once another process applied it. */
async function claimMigration(
  client: Client,
  table: string,
  migration: Migration,
  options: ClaimOptions,
): Promise<boolean> {
  const tryClaim = async (): Promise<ClaimState | null> => {
    const inserted = await client.execute(
      `INSERT INTO ${table} (version, description, state, owner, claimed_at)
       VALUES (?, ?, 'applying', ?, ?) IF NOT EXISTS`,
      [migration.version, migration.description, options.owner, new Date()],
      { prepare: true },
    );
    return inserted.wasApplied() ? null : toClaimState(inserted.first());
  };

  let claim = await tryClaim();
  for (;;) {
    if (claim === null) return true;
    if (claim.state === 'applied') return false;
    if (claim.state === 'missing') {
      claim = await tryClaim();
      continue;
    }

    if (Date.now() - claim.claimedAt > options.leaseMs) {
      const takeover = await client.execute(
        `UPDATE ${table} SET owner = ?, claimed_at = ? WHERE version = ? IF owner = ? AND state = 'applying'`,
        [options.owner, new Date(), migration.version, claim.owner],
        { prepare: true },
      );
      if (takeover.wasApplied()) {
        options.logger.warn(
          { version: migration.version, previousOwner: claim.owner },
          'schema migration claim expired, taking it over',
        );
        return true;
      }
    }

    if (Date.now() > options.deadline) {
      throw new UnavailableError(
        `timed out waiting for process ${claim.owner} to apply schema migration ${migration.version}; ` +
          `its claim is in ${table} and is taken over ${options.leaseMs} ms after it was made`,
      );
    }
    await sleep(options.pollIntervalMs);
    // A serial read first completes any Paxos round in progress on the row, so it sees the latest claim.
    const current = await client.execute(
      `SELECT state, owner, claimed_at FROM ${table} WHERE version = ?`,
      [migration.version],
      { prepare: true, consistency: options.serialConsistency },
    );
    claim = toClaimState(current.first());
  }
}

function toClaimState(row: types.Row | null | undefined): ClaimState {
  if (row === null || row === undefined) return { state: 'missing', owner: '', claimedAt: 0 };
  const claimedAt = row['claimed_at'] as Date | null;
  return {
    state: (row['state'] as string | null) ?? 'missing',
    owner: (row['owner'] as string | null) ?? '',
    claimedAt: claimedAt?.getTime() ?? 0,
  };
}
