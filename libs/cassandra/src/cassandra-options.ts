import cassandra, { type ClientOptions } from 'cassandra-driver';
import { ConfigError, type Logger } from '@switchboard/core';

const { consistencies } = cassandra.types;

/** Consistency levels by their CQL names. */
export const CONSISTENCY_LEVELS = {
  ANY: consistencies.any,
  ONE: consistencies.one,
  TWO: consistencies.two,
  THREE: consistencies.three,
  QUORUM: consistencies.quorum,
  ALL: consistencies.all,
  LOCAL_QUORUM: consistencies.localQuorum,
  EACH_QUORUM: consistencies.eachQuorum,
  LOCAL_ONE: consistencies.localOne,
} as const;

/** Serial consistency levels of the Paxos phase of lightweight transactions. */
export const SERIAL_CONSISTENCY_LEVELS = {
  SERIAL: consistencies.serial,
  LOCAL_SERIAL: consistencies.localSerial,
} as const;

export type ConsistencyName = keyof typeof CONSISTENCY_LEVELS;
export type SerialConsistencyName = keyof typeof SERIAL_CONSISTENCY_LEVELS;

/** Replication map of a keyspace, as in `CREATE KEYSPACE ... WITH replication = {...}`. */
export type ReplicationOptions = Record<string, string | number>;

export interface CassandraStoreOptions {
  /** Nodes to discover the cluster from, as `host` or `host:port` (port 9042 when left out). */
  contactPoints: string[];
  /** Data center whose nodes serve the requests, for example `datacenter1` on a single local node. */
  localDataCenter: string;
  /** Keyspace of every table: lower-case letters, digits and `_`, at most 48 characters. */
  keyspace: string;
  /**
   * Replication of the keyspace when connect creates it. The default, SimpleStrategy with
   * replication factor 1, suits one local node only. Production sets
   * NetworkTopologyStrategy, for example `{ class: 'NetworkTopologyStrategy', dc1: 3 }`.
   * An existing keyspace keeps the replication it has.
   */
  replication?: ReplicationOptions;
  /** Consistency level of every read and write, LOCAL_QUORUM by default. */
  consistency?: ConsistencyName;
  /** Consistency level of the Paxos phase of lightweight transactions, LOCAL_SERIAL by default. */
  serialConsistency?: SerialConsistencyName;
  /**
   * Sequence numbers per message partition, and stream positions per sync stream partition,
   * 10,000 by default. The first start records it in the keyspace, and a later start with
   * another value fails, because the rows already written could not be found.
   */
  bucketSize?: number;
  /** Highest unread count that listConversations computes per conversation, 1,000 by default. */
  maxUnreadCount?: number;
  /** Requests that one store call keeps in flight, for example in applyRecords, 64 by default. */
  concurrency?: number;
  /** Further cassandra-driver options (credentials, TLS, pooling), applied over the defaults. */
  clientOptions?: Partial<ClientOptions>;
  logger?: Logger;
}

/**
 * Default bucket size.
 *
 * By estimate, a message row takes a 100-byte body plus about 100 bytes of sender id, client
 * id, seq, timestamp and per-cell overhead, so 10,000 rows are about 10,000 x 200 B = 2 MB per
 * partition. That is well under 100 MB, the usual upper bound for a Cassandra partition,
 * past which compaction, repair and reads slow down. A stream row has no body because it
 * points at the message row, so stream partitions are smaller still.
 */
export const DEFAULT_BUCKET_SIZE = 10_000;

/** Largest bucket size accepted. At the estimated 200 B per row, 100,000 rows are about 20 MB. */
export const MAX_BUCKET_SIZE = 100_000;

export const DEFAULT_REPLICATION: ReplicationOptions = { class: 'SimpleStrategy', replication_factor: 1 };

/** Options with every default filled in and checked. */
export interface ResolvedOptions {
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  replication: ReplicationOptions;
  consistency: ConsistencyName;
  serialConsistency: SerialConsistencyName;
  bucketSize: number;
  maxUnreadCount: number;
  concurrency: number;
  clientOptions: Partial<ClientOptions>;
}

const KEYSPACE_PATTERN = /^[a-z][a-z0-9_]{0,47}$/;
const CONTACT_POINT_PATTERN = /^[A-Za-z0-9.:[\]-]+$/;
const REPLICATION_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Fills in defaults and checks every option, and throws a ConfigError that names an invalid one. */
export function resolveOptions(options: CassandraStoreOptions): ResolvedOptions {
  const { contactPoints, localDataCenter, keyspace } = options;
  if (!Array.isArray(contactPoints) || contactPoints.length === 0) {
    throw new ConfigError('contactPoints', 'expected at least one host or host:port');
  }
  for (const point of contactPoints) {
    if (typeof point !== 'string' || !CONTACT_POINT_PATTERN.test(point)) {
      throw new ConfigError('contactPoints', `expected host or host:port, got "${String(point)}"`);
    }
  }
  if (typeof localDataCenter !== 'string' || localDataCenter === '') {
    throw new ConfigError('localDataCenter', 'expected the name of the local data center');
  }
  if (typeof keyspace !== 'string' || !KEYSPACE_PATTERN.test(keyspace)) {
    throw new ConfigError(
      'keyspace',
      `expected a lower-case letter, then up to 47 lower-case letters, digits or _, got "${String(keyspace)}"`,
    );
  }

  const replication = options.replication ?? DEFAULT_REPLICATION;
  assertReplication(replication);
  const consistency = options.consistency ?? 'LOCAL_QUORUM';
  if (!(consistency in CONSISTENCY_LEVELS)) {
    throw new ConfigError(
      'consistency',
      `expected one of ${Object.keys(CONSISTENCY_LEVELS).join(', ')}, got "${consistency}"`,
    );
  }
  const serialConsistency = options.serialConsistency ?? 'LOCAL_SERIAL';
  if (!(serialConsistency in SERIAL_CONSISTENCY_LEVELS)) {
    throw new ConfigError('serialConsistency', `expected SERIAL or LOCAL_SERIAL, got "${serialConsistency}"`);
  }

  return {
    contactPoints,
    localDataCenter,
    keyspace,
    replication,
    consistency,
    serialConsistency,
    bucketSize: readPositiveInt('bucketSize', options.bucketSize, DEFAULT_BUCKET_SIZE, MAX_BUCKET_SIZE),
    maxUnreadCount: readPositiveInt('maxUnreadCount', options.maxUnreadCount, 1_000, 100_000),
    concurrency: readPositiveInt('concurrency', options.concurrency, 64, 1_024),
    clientOptions: options.clientOptions ?? {},
  };
}

/** Renders a checked replication map as a CQL map literal. */
export function formatReplication(replication: ReplicationOptions): string {
  const entries = Object.entries(replication).map(([key, value]) => `'${key}': '${value}'`);
  return `{${entries.join(', ')}}`;
}

// The map is spliced into CQL text, because DDL takes no bind markers, so only plain words pass.
function assertReplication(replication: ReplicationOptions): void {
  const entries = Object.entries(replication ?? {});
  if (!entries.some(([key]) => key === 'class')) {
    throw new ConfigError('replication', 'expected a class, for example NetworkTopologyStrategy');
  }
  for (const [key, value] of entries) {
    if (!REPLICATION_PATTERN.test(key) || !REPLICATION_PATTERN.test(String(value))) {
      throw new ConfigError(
        'replication',
        `expected keys and values of letters, digits, _, . or -, got ${key}: ${String(value)}`,
      );
    }
  }
}

function readPositiveInt(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(name, `expected an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}
