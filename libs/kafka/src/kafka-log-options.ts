import { ConfigError, createLogger, type Logger } from '@switchboard/core';

export interface KafkaLogOptions {
  /** Bootstrap brokers as `host:port`. */
  brokers: string[];
  /** Client id that brokers show in their logs and quotas, default `switchboard`. */
  clientId?: string;
  /** Topic of the log, which `connect` creates when missing. */
  topic: string;
  /**
   * Partition count of a topic that `connect` creates, default 12. An existing topic keeps its
   * count.
   */
  partitions?: number;
  /**
   * Replicas per partition of a topic that `connect` creates, default 1 for one local broker.
   * Production uses 3.
   */
  replicationFactor?: number;
  /**
   * `min.insync.replicas` of a topic that `connect` creates, default the smaller of 2 and
   * `replicationFactor`. An append with acks from all in-sync replicas fails when fewer are in sync.
   */
  minInSyncReplicas?: number;
  /**
   * Maximum bytes of keys and values in one `producer.sendBatch`, default 768 KiB. A partition's
   * record batch must stay under the broker's message.max.bytes (1 MiB by default), and each
   * record adds up to about 14 bytes of framing: 10000 records add about 137 KiB.
   */
  maxSendBytes?: number;
  /**
   * Maximum number of `append` calls combined into one `producer.sendBatch`, default 10000. With
   * 1, each append is sent alone.
   */
  maxAppendsPerSend?: number;
  /** Maximum number of records handed to a consumer's handler at once, default 500. */
  maxBatchRecords?: number;
  /** First delay in milliseconds before a rejected batch is handed over again, default 100. */
  retryInitialMs?: number;
  /** Maximum delay in milliseconds between attempts of a rejected batch, default 5000. */
  retryMaxMs?: number;
  /** Interval in milliseconds between polls of committed offsets in `awaitConsumed`, default 25. */
  pollIntervalMs?: number;
  /**
   * Maximum time in milliseconds that a consumer's fetch waits on the broker for new records,
   * default 500. `stop` waits for the fetch in flight, so this also bounds how long it takes.
   */
  maxWaitTimeMs?: number;
  /**
   * Consumer group session timeout in milliseconds, default 10000 (the Java client's default
   * before Kafka 3.0; kafkajs uses 30000). A consumer that died without leaving its group, for
   * example across a broker restart, keeps its partitions assigned until this passes.
   */
  sessionTimeoutMs?: number;
  /** Timeout in milliseconds of a TCP connection to a broker, default 3000. */
  connectionTimeoutMs?: number;
  /** Timeout in milliseconds of one Kafka request, default 30000. */
  requestTimeoutMs?: number;
  /**
   * Retries of a failed Kafka request before the call that made it fails, default 5. At least 1,
   * because kafkajs 2.2.4 rejects an idempotent producer without retries.
   */
  retries?: number;
  logger?: Logger;
}

export type ResolvedKafkaLogOptions = Required<KafkaLogOptions>;

// Kafka's own rule for topic names: at most 249 characters of A-Z, a-z, 0-9, '.', '_' and '-'.
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const BROKER_ADDRESS = /^[A-Za-z0-9.:[\]-]+:\d{1,5}$/;

/** Fills in defaults and checks every option, throwing ConfigError on the first bad one. */
export function resolveKafkaLogOptions(options: KafkaLogOptions): ResolvedKafkaLogOptions {
  const replicationFactor = options.replicationFactor ?? 1;
  const resolved: ResolvedKafkaLogOptions = {
    brokers: options.brokers,
    clientId: options.clientId ?? 'switchboard',
    topic: options.topic,
    partitions: options.partitions ?? 12,
    replicationFactor,
    minInSyncReplicas: options.minInSyncReplicas ?? Math.min(2, replicationFactor),
    maxSendBytes: options.maxSendBytes ?? 768 * 1024,
    maxAppendsPerSend: options.maxAppendsPerSend ?? 10_000,
    maxBatchRecords: options.maxBatchRecords ?? 500,
    retryInitialMs: options.retryInitialMs ?? 100,
    retryMaxMs: options.retryMaxMs ?? 5_000,
    pollIntervalMs: options.pollIntervalMs ?? 25,
    maxWaitTimeMs: options.maxWaitTimeMs ?? 500,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
    connectionTimeoutMs: options.connectionTimeoutMs ?? 3_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    retries: options.retries ?? 5,
    logger: options.logger ?? createLogger('kafka-log'),
  };

  if (!Array.isArray(resolved.brokers) || resolved.brokers.length === 0) {
    throw new ConfigError('brokers', 'expected at least one broker address as host:port');
  }
  for (const broker of resolved.brokers) {
    if (typeof broker !== 'string' || !BROKER_ADDRESS.test(broker)) {
      throw new ConfigError('brokers', `expected host:port, got ${JSON.stringify(broker)}`);
    }
  }
  if (typeof resolved.topic !== 'string' || !TOPIC_NAME.test(resolved.topic)) {
    throw new ConfigError(
      'topic',
      `invalid topic name ${JSON.stringify(resolved.topic)}, expected 1 to 249 characters of A-Z, a-z, 0-9, ., _ and -`,
    );
  }
  if (typeof resolved.clientId !== 'string' || resolved.clientId === '') {
    throw new ConfigError('clientId', 'expected a non-empty string');
  }

  const positive = [
    'partitions',
    'replicationFactor',
    'minInSyncReplicas',
    'maxSendBytes',
    'maxAppendsPerSend',
    'maxBatchRecords',
    'retryInitialMs',
    'retryMaxMs',
    'pollIntervalMs',
    'maxWaitTimeMs',
    'sessionTimeoutMs',
    'connectionTimeoutMs',
    'requestTimeoutMs',
  ] as const;
  for (const name of positive) {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(name, `expected a positive integer, got ${String(value)}`);
    }
  }
  if (!Number.isSafeInteger(resolved.retries) || resolved.retries < 1) {
    throw new ConfigError(
      'retries',
      `expected a positive integer (an idempotent producer must retry), got ${String(resolved.retries)}`,
    );
  }
  if (resolved.minInSyncReplicas > resolved.replicationFactor) {
    throw new ConfigError(
      'minInSyncReplicas',
      `must be <= replicationFactor ${resolved.replicationFactor}, got ${resolved.minInSyncReplicas}`,
    );
  }
  return resolved;
}
