// Helpers for the Cassandra adapter tests. Production code must not import this module.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import cassandra, { type Client } from 'cassandra-driver';
import type { CassandraStoreOptions } from './cassandra-options.ts';

/** Nodes that the tests use: `SWB_CASSANDRA_CONTACT_POINTS`, or the one of `deploy/local/cassandra.sh up`. */
export const CONTACT_POINTS = (process.env.SWB_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042')
  .split(',')
  .map((point) => point.trim())
  .filter((point) => point !== '');

export const LOCAL_DATA_CENTER = process.env.SWB_CASSANDRA_DC ?? 'datacenter1';

export const SKIP_MESSAGE =
  `No Cassandra node accepted a connection at ${CONTACT_POINTS.join(', ')}, so the Cassandra ` +
  'adapter tests are skipped. Start one with deploy/local/cassandra.sh up, or set ' +
  'SWB_CASSANDRA_CONTACT_POINTS and SWB_CASSANDRA_DC.';

/**
 * Returns true when any contact point accepts a TCP connection within a second.
 *
 * Only an unreachable node skips the tests. A node that accepts the connection but fails
 * later, for example with a wrong data center, fails them.
 */
export async function isCassandraReachable(): Promise<boolean> {
  const answers = await Promise.all(CONTACT_POINTS.map((point) => acceptsConnection(point)));
  // CI starts the engines and sets SWB_REQUIRE_ENGINES, so a missing node fails there.
  if (!answers.includes(true) && process.env.SWB_REQUIRE_ENGINES === '1') {
    throw new Error(`no Cassandra node answered at ${CONTACT_POINTS.join(', ')} and SWB_REQUIRE_ENGINES=1`);
  }
  return answers.includes(true);
}

function acceptsConnection(point: string): Promise<boolean> {
  const separator = point.lastIndexOf(':');
  const host = separator === -1 ? point : point.slice(0, separator);
  const port = separator === -1 ? 9042 : Number(point.slice(separator + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    const finish = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

/** Returns a random keyspace name, so that test runs against a shared node never collide. */
export function buildTestKeyspace(): string {
  return `swb_test_${randomBytes(5).toString('hex')}`;
}

/** Returns store options for `keyspace` on the test node. */
export function buildTestOptions(
  keyspace: string,
  overrides: Partial<CassandraStoreOptions> = {},
): CassandraStoreOptions {
  return { contactPoints: CONTACT_POINTS, localDataCenter: LOCAL_DATA_CENTER, keyspace, ...overrides };
}

/** Opens a plain driver client for looking at rows behind a store's back. */
export async function openAdmin(): Promise<Client> {
  const client = new cassandra.Client({ contactPoints: CONTACT_POINTS, localDataCenter: LOCAL_DATA_CENTER });
  await client.connect();
  return client;
}

/** Drops a test keyspace; dropping waits for schema agreement, hence the long timeout. */
export async function dropKeyspace(keyspace: string): Promise<void> {
  const admin = await openAdmin();
  try {
    await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 60_000 });
  } finally {
    await admin.shutdown();
  }
}
