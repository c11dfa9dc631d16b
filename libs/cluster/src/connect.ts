import type { Bus, DependencyProbe, DurableLog, Logger, PushJob, Sequencer, Store } from '@switchboard/core';
import { CassandraStore } from '@switchboard/cassandra';
import type { SwitchboardMetrics } from '@switchboard/metrics';
import { KafkaLog, PUSH_JOB_CODEC } from '@switchboard/kafka';
import { RedisBus, RedisSequencer } from '@switchboard/redis';
import type { ClusterConfig } from './cluster-config.ts';
import { CassandraQueryTracker } from './query-tracker.ts';

/** Receivers of the store's requests: latencies go into metrics, outcomes to a readiness probe. */
export interface StoreObservers {
  metrics?: SwitchboardMetrics;
  probe?: DependencyProbe;
}

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

/**
 * Connects the push-jobs log: the SWB_KAFKA_PUSH_TOPIC topic, created when missing, whose jobs
 * are keyed by recipient so one user's jobs keep their order.
 */
export function connectPushJobLog(
  config: ClusterConfig,
  logger: Logger,
  clientId: string,
): Promise<KafkaLog<PushJob>> {
  return connectPushTopic(config, config.kafkaPushTopic, logger, clientId);
}

/** Connects the dead-letter log of push jobs: the SWB_KAFKA_PUSH_DEAD_TOPIC topic, created when missing. */
export function connectPushDeadLog(
  config: ClusterConfig,
  logger: Logger,
  clientId: string,
): Promise<KafkaLog<PushJob>> {
  return connectPushTopic(config, config.kafkaPushDeadTopic, logger, clientId);
}

function connectPushTopic(
  config: ClusterConfig,
  topic: string,
  logger: Logger,
  clientId: string,
): Promise<KafkaLog<PushJob>> {
  return KafkaLog.connect(
    {
      brokers: config.kafkaBrokers,
      clientId,
      topic,
      partitions: config.kafkaPartitions,
      replicationFactor: config.kafkaReplicationFactor,
      logger,
    },
    PUSH_JOB_CODEC,
  );
}

/** Connects the store: Cassandra, applying schema migrations at start. */
export function connectStore(
  config: ClusterConfig,
  logger: Logger,
  observers: StoreObservers = {},
): Promise<CassandraStore> {
  const requestTracker = new CassandraQueryTracker({
    histogram: observers.metrics?.cassandraQuery,
    probe: observers.probe,
  });
  return CassandraStore.connect({
    contactPoints: config.cassandraContactPoints,
    localDataCenter: config.cassandraDataCenter,
    keyspace: config.cassandraKeyspace,
    replication: { class: 'SimpleStrategy', replication_factor: config.cassandraReplicationFactor },
    consistency: config.cassandraConsistency,
    clientOptions: { requestTracker },
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
