/**
 * The capacity model: from the product's load (daily users, messages, connections) and the
 * per-node figures that `make bench` measured, computes how many chat nodes, routers, Redis
 * shards, Kafka brokers and partitions and Cassandra nodes a deployment needs at peak.
 *
 * Pure arithmetic, no I/O: loadtests/capacity.ts feeds it and prints the table.
 * Every input is an assumption or a measurement, and `describeAssumptions` lists them all.
 */

/** Load the deployment must carry. */
export interface Demand {
  dailyActiveUsers: number;
  messagesPerDay: number;
  /** Busiest hour's message rate divided by the day's average rate. */
  dailyPeakFactor: number;
  /** Extra share on top of the daily peak during a live event (0.35 = +35%). */
  eventBump: number;
  /** Open connections at peak. */
  peakConnections: number;
  /** Share of one-to-one messages whose recipient has no open connection, so it becomes a push. */
  offlineRecipientShare: number;
  /** Mean time between a device's connects (session length), for the router's load, in seconds. */
  meanSessionSeconds: number;
}

/** Per-process figures measured by `make bench` on the reference machine. */
export interface MeasuredNode {
  /** One-to-one messages per second one chat node handles at p99 < 50 ms (sender and receiver halves both counted). */
  messagesPerSecond: number;
  /** Chat-node resident memory per idle connection, bytes. */
  bytesPerConnection: number;
  /** Source of the figures, for the table's caption. */
  source: string;
  /** Reason the figures fall short of what the model assumes, shown above the table. */
  caveat?: string;
}

/** Capacity of one instance of each engine and the planning rules; assumptions, not measured here. */
export interface Sizing {
  /** Share of a chat node's measured message rate that it runs at, leaving room for bursts and a lost node. */
  chatNodeUtilisation: number;
  /** Memory a chat node may spend on connection state, bytes. */
  chatNodeConnectionMemoryBytes: number;
  /** Most connections planned per chat node, whatever memory allows; bounds one node's reconnect storm. */
  maxConnectionsPerChatNode: number;
  /** `/v1/route` requests per second that one router instance serves. */
  routerRequestsPerSecond: number;
  /** Operations per second one Redis shard is run at. */
  redisOpsPerShard: number;
  /** Redis operations per accepted message: sequence counter, idempotency record, pub/sub publish. */
  redisOpsPerMessage: number;
  /** Presence heartbeat period of a device, seconds: one key renewal each. */
  presenceHeartbeatSeconds: number;
  /** Bytes of one message record in Kafka, with key, headers and envelope. */
  kafkaRecordBytes: number;
  kafkaReplicationFactor: number;
  /** Bytes per second one broker takes in, replication traffic included. */
  kafkaBrokerBytesPerSecond: number;
  /** Messages per second one partition's consumer (the persister) keeps up with. */
  kafkaPartitionMessagesPerSecond: number;
  /** Cassandra rows written per message: message row, one stream row per member, conversation and stream heads. */
  cassandraRowsPerMessage: number;
  /** Bytes per message on disk before compression, all its rows together. */
  cassandraBytesPerMessage: number;
  cassandraReplicationFactor: number;
  /** Replica writes per second one Cassandra node takes. */
  cassandraWritesPerNode: number;
  /** Days of messages kept in Cassandra. */
  retentionDays: number;
  /** Usable disk per Cassandra node (half the raw disk, for compaction), bytes. */
  cassandraUsableDiskBytes: number;
}

export interface CapacityTable {
  averageMessagesPerSecond: number;
  peakMessagesPerSecond: number;
  peakConnections: number;
  connectionsPerChatNode: number;
  chatNodesForConnections: number;
  chatNodesForMessages: number;
  chatNodes: number;
  routeRequestsPerSecond: number;
  routers: number;
  redisOpsPerSecond: number;
  redisShards: number;
  kafkaBytesPerSecond: number;
  kafkaBrokers: number;
  kafkaPartitions: number;
  cassandraWritesPerSecond: number;
  cassandraDiskBytesPerDay: number;
  cassandraNodesForWrites: number;
  cassandraNodesForDisk: number;
  cassandraNodes: number;
  pushesPerSecond: number;
}

const SECONDS_PER_DAY = 86_400;

/** Computes the fleet for `demand` at the measured node figures and the sizing rules. */
export function computeCapacity(demand: Demand, node: MeasuredNode, sizing: Sizing): CapacityTable {
  if (node.messagesPerSecond <= 0 || node.bytesPerConnection <= 0) {
    throw new Error('measured node figures must be positive; run `make bench` first');
  }
  const averageMessagesPerSecond = demand.messagesPerDay / SECONDS_PER_DAY;
  const peakMessagesPerSecond = averageMessagesPerSecond * demand.dailyPeakFactor * (1 + demand.eventBump);

  const connectionsByMemory = Math.floor(sizing.chatNodeConnectionMemoryBytes / node.bytesPerConnection);
  const connectionsPerChatNode = Math.min(connectionsByMemory, sizing.maxConnectionsPerChatNode);
  const chatNodesForConnections = Math.ceil(demand.peakConnections / connectionsPerChatNode);
  const chatNodesForMessages = Math.ceil(
    peakMessagesPerSecond / (node.messagesPerSecond * sizing.chatNodeUtilisation),
  );
  const chatNodes = Math.max(chatNodesForConnections, chatNodesForMessages);

  const routeRequestsPerSecond = demand.peakConnections / demand.meanSessionSeconds;
  const routers = Math.ceil(routeRequestsPerSecond / sizing.routerRequestsPerSecond);

  const presenceOpsPerSecond = demand.peakConnections / sizing.presenceHeartbeatSeconds;
  const redisOpsPerSecond = peakMessagesPerSecond * sizing.redisOpsPerMessage + presenceOpsPerSecond;
  const redisShards = Math.ceil(redisOpsPerSecond / sizing.redisOpsPerShard);

  const kafkaBytesPerSecond = peakMessagesPerSecond * sizing.kafkaRecordBytes * sizing.kafkaReplicationFactor;
  const kafkaBrokers = Math.max(
    sizing.kafkaReplicationFactor,
    Math.ceil(kafkaBytesPerSecond / sizing.kafkaBrokerBytesPerSecond),
  );
  const kafkaPartitions = Math.ceil(peakMessagesPerSecond / sizing.kafkaPartitionMessagesPerSecond);

  const cassandraWritesPerSecond =
    peakMessagesPerSecond * sizing.cassandraRowsPerMessage * sizing.cassandraReplicationFactor;
  const cassandraDiskBytesPerDay =
    demand.messagesPerDay * sizing.cassandraBytesPerMessage * sizing.cassandraReplicationFactor;
  const cassandraNodesForWrites = Math.ceil(cassandraWritesPerSecond / sizing.cassandraWritesPerNode);
  const cassandraNodesForDisk = Math.ceil(
    (cassandraDiskBytesPerDay * sizing.retentionDays) / sizing.cassandraUsableDiskBytes,
  );
  const cassandraNodes = Math.max(
    sizing.cassandraReplicationFactor,
    cassandraNodesForWrites,
    cassandraNodesForDisk,
  );

  const pushesPerSecond = peakMessagesPerSecond * demand.offlineRecipientShare;

  return {
    averageMessagesPerSecond,
    peakMessagesPerSecond,
    peakConnections: demand.peakConnections,
    connectionsPerChatNode,
    chatNodesForConnections,
    chatNodesForMessages,
    chatNodes,
    routeRequestsPerSecond,
    routers,
    redisOpsPerSecond,
    redisShards,
    kafkaBytesPerSecond,
    kafkaBrokers,
    kafkaPartitions,
    cassandraWritesPerSecond,
    cassandraDiskBytesPerDay,
    cassandraNodesForWrites,
    cassandraNodesForDisk,
    cassandraNodes,
    pushesPerSecond,
  };
}

/** The product's load, as the brief states it, plus the planning assumptions on top of it. */
export const DEFAULT_DEMAND: Demand = {
  dailyActiveUsers: 500_000_000,
  messagesPerDay: 20_000_000_000,
  dailyPeakFactor: 2,
  eventBump: 0.35,
  peakConnections: 500_000_000,
  offlineRecipientShare: 0.3,
  meanSessionSeconds: 1800,
};

/** Sizing rules for engines not measured by `make bench`; each is an estimate stated as such. */
export const DEFAULT_SIZING: Sizing = {
  chatNodeUtilisation: 0.6,
  chatNodeConnectionMemoryBytes: 8 * 2 ** 30,
  maxConnectionsPerChatNode: 250_000,
  routerRequestsPerSecond: 5_000,
  redisOpsPerShard: 100_000,
  redisOpsPerMessage: 3,
  presenceHeartbeatSeconds: 60,
  kafkaRecordBytes: 400,
  kafkaReplicationFactor: 3,
  kafkaBrokerBytesPerSecond: 50 * 2 ** 20,
  kafkaPartitionMessagesPerSecond: 2_000,
  cassandraRowsPerMessage: 6,
  cassandraBytesPerMessage: 500,
  cassandraReplicationFactor: 3,
  cassandraWritesPerNode: 30_000,
  retentionDays: 90,
  cassandraUsableDiskBytes: 2 * 10 ** 12,
};
