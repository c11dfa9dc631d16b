import type { Client } from 'cassandra-driver';
import cassandra from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError, createLogger } from '@switchboard/core';
import { CassandraStore } from './cassandra-store.ts';
import { buildMigrations, type Migration } from './schema.ts';
import { migrateSchema, type MigrateOptions } from './schema-migrations.ts';
import {
  CONTACT_POINTS,
  SKIP_MESSAGE,
  buildTestKeyspace,
  buildTestOptions,
  dropKeyspace,
  isCassandraReachable,
  openAdmin,
} from './test-cassandra.ts';

const reachable = await isCassandraReachable();
if (!reachable) console.warn(SKIP_MESSAGE);

interface MigrationRow {
  version: number;
  state: string;
  owner: string;
  appliedAt: number | undefined;
}

async function readMigrationRows(admin: Client, keyspace: string): Promise<MigrationRow[]> {
  const result = await admin.execute(
    `SELECT version, state, owner, applied_at FROM ${keyspace}.schema_migrations`,
  );
  return result.rows
    .map((row) => ({
      version: row['version'] as number,
      state: row['state'] as string,
      owner: row['owner'] as string,
      appliedAt: (row['applied_at'] as Date | null)?.getTime(),
    }))
    .sort((a, b) => a.version - b.version);
}

async function listTables(admin: Client, keyspace: string): Promise<string[]> {
  const result = await admin.execute(
    'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?',
    [keyspace],
    {
      prepare: true,
    },
  );
  return result.rows.map((row) => row['table_name'] as string).sort();
}

/** Two small migrations that each add a table. */
function buildTestMigrations(keyspace: string): Migration[] {
  return [
    {
      version: 1,
      description: 'first table',
      statements: [`CREATE TABLE IF NOT EXISTS ${keyspace}.first (id text PRIMARY KEY)`],
    },
    {
      version: 2,
      description: 'second table',
      statements: [`CREATE TABLE IF NOT EXISTS ${keyspace}.second (id text PRIMARY KEY)`],
    },
  ];
}

describe.skipIf(!reachable)(`schema migrations on ${CONTACT_POINTS.join(', ')}`, () => {
  let admin: Client;
  const keyspaces: string[] = [];

  /** Creates an empty keyspace for one test. */
  const createKeyspace = async (): Promise<string> => {
    const keyspace = buildTestKeyspace();
    keyspaces.push(keyspace);
    await admin.execute(
      `CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
      [],
      { readTimeout: 60_000 },
    );
    return keyspace;
  };

  const migrate = (keyspace: string, overrides: Partial<MigrateOptions> = {}) =>
    migrateSchema(admin, {
      keyspace,
      migrations: buildTestMigrations(keyspace),
      owner: 'test-owner',
      serialConsistency: cassandra.types.consistencies.localSerial,
      logger: createLogger('schema-migrations-test'),
      ...overrides,
    });

  /** Writes a claim of migration 1 as another process would, without running it. */
  const writeClaim = (keyspace: string, owner: string, claimedAt: number) =>
    admin.execute(
      `INSERT INTO ${keyspace}.schema_migrations (version, description, state, owner, claimed_at)
       VALUES (1, 'first table', 'applying', ?, ?)`,
      [owner, new Date(claimedAt)],
      { prepare: true },
    );

  beforeAll(async () => {
    admin = await openAdmin();
  });

  afterAll(async () => {
    await admin.shutdown();
    await Promise.all(keyspaces.map((keyspace) => dropKeyspace(keyspace)));
  }, 120_000);

  it('applies nothing on a second connect', async () => {
    const keyspace = buildTestKeyspace();
    keyspaces.push(keyspace);

    const first = await CassandraStore.connect(buildTestOptions(keyspace));
    await first.close();
    const afterFirst = await readMigrationRows(admin, keyspace);
    const tables = await listTables(admin, keyspace);
    const second = await CassandraStore.connect(buildTestOptions(keyspace));
    await second.close();
    const afterSecond = await readMigrationRows(admin, keyspace);

    expect(afterFirst.map((row) => row.version)).toEqual(buildMigrations(keyspace).map((m) => m.version));
    expect(afterFirst.every((row) => row.state === 'applied')).toBe(true);
    expect(tables).toEqual(
      expect.arrayContaining(['messages', 'stream', 'users', 'conversations', 'schema_migrations']),
    );
    expect(afterSecond).toEqual(afterFirst);
    expect(
      await migrateSchema(admin, {
        keyspace,
        migrations: buildMigrations(keyspace),
        owner: 'third',
        serialConsistency: cassandra.types.consistencies.localSerial,
        logger: createLogger('schema-migrations-test'),
      }),
    ).toEqual([]);
  });

  it('applies and records migrations in order', async () => {
    const keyspace = await createKeyspace();

    const applied = await migrate(keyspace);
    const rows = await readMigrationRows(admin, keyspace);

    expect(applied).toEqual([1, 2]);
    expect(rows.map((row) => [row.version, row.state, row.owner])).toEqual([
      [1, 'applied', 'test-owner'],
      [2, 'applied', 'test-owner'],
    ]);
    expect(await listTables(admin, keyspace)).toEqual(['first', 'schema_migrations', 'second']);
  });

  it('applies once with concurrent processes', async () => {
    const keyspace = await createKeyspace();
    await migrate(keyspace, { migrations: [] });

    const [one, two] = await Promise.all([
      migrate(keyspace, { owner: 'one', pollIntervalMs: 50 }),
      migrate(keyspace, { owner: 'two', pollIntervalMs: 50 }),
    ]);
    const rows = await readMigrationRows(admin, keyspace);

    expect([...one, ...two].sort()).toEqual([1, 2]);
    expect(rows.map((row) => row.state)).toEqual(['applied', 'applied']);
    expect(rows.map((row) => row.owner).sort()).toEqual(
      [...one.map(() => 'one'), ...two.map(() => 'two')].sort(),
    );
  });

  it("waits for another process's claim", async () => {
    const keyspace = await createKeyspace();
    await migrate(keyspace, { migrations: [] });
    await writeClaim(keyspace, 'other', Date.now());

    const waiting = migrate(keyspace, { pollIntervalMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.execute(`CREATE TABLE ${keyspace}.first (id text PRIMARY KEY)`, [], { readTimeout: 60_000 });
    await admin.execute(`UPDATE ${keyspace}.schema_migrations SET state = 'applied' WHERE version = 1`);
    const applied = await waiting;

    expect(applied).toEqual([2]);
    expect((await readMigrationRows(admin, keyspace))[0]?.owner).toBe('other');
  });

  it('times out on a live claim', async () => {
    const keyspace = await createKeyspace();
    await migrate(keyspace, { migrations: [] });
    await writeClaim(keyspace, 'other', Date.now());

    const waiting = migrate(keyspace, { pollIntervalMs: 50, waitTimeoutMs: 500 });

    await expect(waiting).rejects.toBeInstanceOf(UnavailableError);
    await expect(waiting).rejects.toThrow(/process other/);
  });

  it('takes over an expired claim', async () => {
    const keyspace = await createKeyspace();
    await migrate(keyspace, { migrations: [] });
    await writeClaim(keyspace, 'crashed', Date.now() - 10_000);

    const applied = await migrate(keyspace, { leaseMs: 5_000, pollIntervalMs: 50 });
    const rows = await readMigrationRows(admin, keyspace);

    expect(applied).toEqual([1, 2]);
    expect(rows.map((row) => [row.state, row.owner])).toEqual([
      ['applied', 'test-owner'],
      ['applied', 'test-owner'],
    ]);
  });
});
