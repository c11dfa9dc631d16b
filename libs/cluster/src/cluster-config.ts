import { ConfigError, readChoice, readInt, readString, type Env } from '@switchboard/core';

/** Where the engines of the cluster profile are, read from `SWB_` variables. */
export interface ClusterConfig {
  /** SWB_REDIS_URL, default redis://127.0.0.1:6390. */
  redisUrl: string;
  /** SWB_REDIS_KEY_PREFIX, default `swb:`; one prefix per cluster sharing a Redis. */
  redisKeyPrefix: string;
  /** SWB_KAFKA_BROKERS, comma-separated host:port, default 127.0.0.1:9092. */
  kafkaBrokers: string[];
  /** SWB_KAFKA_TOPIC, default `switchboard.messages`. */
  kafkaTopic: string;
  /** SWB_KAFKA_PUSH_TOPIC, default `switchboard.push-jobs`: push jobs from chat nodes to the push worker. */
  kafkaPushTopic: string;
  /** SWB_KAFKA_PUSH_DEAD_TOPIC, default `switchboard.push-dead`: push jobs that failed for good. */
  kafkaPushDeadTopic: string;
  /** SWB_KAFKA_PARTITIONS, partitions of the topics when they are created, default 12. */
  kafkaPartitions: number;
  /** SWB_KAFKA_REPLICATION_FACTOR, default 1 (one local broker); 3 in production. */
  kafkaReplicationFactor: number;
  /** SWB_CASSANDRA_CONTACT_POINTS, comma-separated host[:port], default 127.0.0.1:9042. */
  cassandraContactPoints: string[];
  /** SWB_CASSANDRA_DC, default datacenter1. */
  cassandraDataCenter: string;
  /** SWB_CASSANDRA_KEYSPACE, default switchboard. */
  cassandraKeyspace: string;
  /** SWB_CASSANDRA_REPLICATION_FACTOR, used when the keyspace is created, default 1. */
  cassandraReplicationFactor: number;
  /** SWB_CASSANDRA_CONSISTENCY, default LOCAL_QUORUM. */
  cassandraConsistency: 'ONE' | 'LOCAL_ONE' | 'QUORUM' | 'LOCAL_QUORUM' | 'ALL';
  /**
   * SWB_SEQUENCE_SEED_MARGIN, default 100: how far above the stored maximum a lost Redis
   * counter is re-seeded, to step over numbers reserved before the loss whose log append was
   * still in flight.
   */
  sequenceSeedMargin: number;
  /**
   * SWB_PERSISTER_GROUP, default `persister`: Kafka consumer group of the persister, whose
   * progress the API and the chat nodes wait for. Kafka keeps one group per id across all
   * topics, so deployments that share brokers need one group each.
   */
  persisterGroup: string;
}

/** Reads the cluster profile's engine settings; throws ConfigError naming the bad variable. */
export function readClusterConfig(env: Env): ClusterConfig {
  return {
    redisUrl: readString(
      env,
      'SWB_REDIS_URL',
      'redis://127.0.0.1:6390',
      /^rediss?:\/\/\S+$/,
      'a redis:// URL',
    ),
    redisKeyPrefix: readString(
      env,
      'SWB_REDIS_KEY_PREFIX',
      'swb:',
      /^[A-Za-z0-9:_.-]{1,64}$/,
      'a short key prefix',
    ),
    kafkaBrokers: readList(
      env,
      'SWB_KAFKA_BROKERS',
      '127.0.0.1:9092',
      /^[A-Za-z0-9.-]+:\d{1,5}$/,
      'host:port',
    ),
    kafkaTopic: readString(
      env,
      'SWB_KAFKA_TOPIC',
      'switchboard.messages',
      /^[A-Za-z0-9._-]{1,249}$/,
      'a Kafka topic name',
    ),
    kafkaPushTopic: readString(
      env,
      'SWB_KAFKA_PUSH_TOPIC',
      'switchboard.push-jobs',
      /^[A-Za-z0-9._-]{1,249}$/,
      'a Kafka topic name',
    ),
    kafkaPushDeadTopic: readString(
      env,
      'SWB_KAFKA_PUSH_DEAD_TOPIC',
      'switchboard.push-dead',
      /^[A-Za-z0-9._-]{1,249}$/,
      'a Kafka topic name',
    ),
    kafkaPartitions: readInt(env, 'SWB_KAFKA_PARTITIONS', 12, { min: 1, max: 10_000 }),
    kafkaReplicationFactor: readInt(env, 'SWB_KAFKA_REPLICATION_FACTOR', 1, { min: 1, max: 7 }),
    cassandraContactPoints: readList(
      env,
      'SWB_CASSANDRA_CONTACT_POINTS',
      '127.0.0.1:9042',
      /^[A-Za-z0-9.-]+(:\d{1,5})?$/,
      'host or host:port',
    ),
    cassandraDataCenter: readString(
      env,
      'SWB_CASSANDRA_DC',
      'datacenter1',
      /^[A-Za-z0-9_-]{1,64}$/,
      'a data center name',
    ),
    cassandraKeyspace: readString(
      env,
      'SWB_CASSANDRA_KEYSPACE',
      'switchboard',
      /^[a-z][a-z0-9_]{0,47}$/,
      'a keyspace name',
    ),
    cassandraReplicationFactor: readInt(env, 'SWB_CASSANDRA_REPLICATION_FACTOR', 1, { min: 1, max: 7 }),
    cassandraConsistency: readChoice(env, 'SWB_CASSANDRA_CONSISTENCY', 'LOCAL_QUORUM', [
      'ONE',
      'LOCAL_ONE',
      'QUORUM',
      'LOCAL_QUORUM',
      'ALL',
    ] as const),
    sequenceSeedMargin: readInt(env, 'SWB_SEQUENCE_SEED_MARGIN', 100, { min: 0 }),
    persisterGroup: readString(
      env,
      'SWB_PERSISTER_GROUP',
      'persister',
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/,
      'a consumer group id of 1 to 128 letters, digits, "_", "." or "-"',
    ),
  };
}

/** Reads the shared token secret, which every process of a cluster must agree on. */
export function readTokenSecret(env: Env): string {
  const secret = env.SWB_TOKEN_SECRET;
  if (secret === undefined || secret.length < 32) {
    throw new ConfigError(
      'SWB_TOKEN_SECRET',
      'must be set to a secret of at least 32 bytes shared by every process',
    );
  }
  return secret;
}

function readList(env: Env, name: string, fallback: string, item: RegExp, expected: string): string[] {
  const raw = readString(env, name, fallback);
  const items = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (items.length === 0) throw new ConfigError(name, `expected a comma-separated list of ${expected}`);
  for (const part of items) {
    if (!item.test(part)) throw new ConfigError(name, `expected ${expected}, got "${part}"`);
  }
  return items;
}
