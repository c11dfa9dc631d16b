import type { Bus, DurableLog, Logger, Sequencer, Store } from '@switchboard/core';
import { CassandraStore } from '@switchboard/cassandra';
import { KafkaLog } from '@switchboard/kafka';
import { RedisBus, RedisSequencer } from '@switchboard/redis';
import type { ClusterConfig } from './cluster-config.ts';

/** Connects the bus: membership and node channels on Redis. */
export function connectBus(config: ClusterConfig, logger: Logger, name: string): Promise<Bus> {
  return RedisBus.connect({
    url: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    connectionName: name,
    logger,
  });
}

/** Connects the durable log: the messages topic on Kafka, created when missing. */
export function connectLog(config: ClusterConfig, logger: Logger, clientId: string): Promise<KafkaLog> {
  return KafkaLog.connect({
    brokers: config.kafkaBrokers,
    clientId,
    topic: config.kafkaTopic,
    partitions: config.kafkaPartitions,
    replicationFactor: config.kafkaReplicationFactor,
    logger,
  });
}

/** Connects the store: Cassandra, applying schema migrations at start. */
export function connectStore(config: ClusterConfig, logger: Logger): Promise<CassandraStore> {
  return CassandraStore.connect({
    contactPoints: config.cassandraContactPoints,
    localDataCenter: config.cassandraDataCenter,
    keyspace: config.cassandraKeyspace,
    replication: { class: 'SimpleStrategy', replication_factor: config.cassandraReplicationFactor },
    consistency: config.cassandraConsistency,
    logger,
  });
}

/**
 * Connects the sequencer: counters and idempotency keys on Redis, re-seeded from the store
 * when Redis loses them.
 */
export function connectSequencer(
  config: ClusterConfig,
  store: Store,
  logger: Logger,
  name: string,
): Promise<Sequencer> {
  return RedisSequencer.connect({
    url: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    connectionName: name,
    store,
    seedMargin: config.sequenceSeedMargin,
    logger,
  });
}

export type { Bus, DurableLog };
