import { describe, expect, it } from 'vitest';
import {
  computeCapacity,
  DEFAULT_DEMAND,
  DEFAULT_SIZING,
  type Demand,
  type MeasuredNode,
  type Sizing,
} from './capacity-model.ts';

// Round inputs, so that every expected figure below can be checked by hand.
const demand: Demand = {
  dailyActiveUsers: 1_000_000,
  messagesPerDay: 8_640_000_000,
  dailyPeakFactor: 2,
  eventBump: 0.5,
  peakConnections: 10_000_000,
  offlineRecipientShare: 0.25,
  meanSessionSeconds: 1000,
};
const node: MeasuredNode = { messagesPerSecond: 10_000, bytesPerConnection: 4096, source: 'fixed' };
const sizing: Sizing = {
  chatNodeUtilisation: 0.5,
  chatNodeConnectionMemoryBytes: 4096 * 200_000,
  maxConnectionsPerChatNode: 1_000_000,
  routerRequestsPerSecond: 1_000,
  redisOpsPerShard: 100_000,
  redisOpsPerMessage: 2,
  presenceHeartbeatSeconds: 50,
  kafkaRecordBytes: 500,
  kafkaReplicationFactor: 3,
  kafkaBrokerBytesPerSecond: 100_000_000,
  kafkaPartitionMessagesPerSecond: 1_000,
  cassandraRowsPerMessage: 4,
  cassandraBytesPerMessage: 1000,
  cassandraReplicationFactor: 3,
  cassandraWritesPerNode: 60_000,
  retentionDays: 10,
  cassandraUsableDiskBytes: 10 ** 12,
};

describe('computeCapacity', () => {
  const table = computeCapacity(demand, node, sizing);

  it('derives the peak rate from the day, the peak factor and the bump', () => {
    expect(table.averageMessagesPerSecond).toBe(100_000);
    expect(table.peakMessagesPerSecond).toBe(300_000);
  });

  it('sizes chat nodes by the larger of connections and messages', () => {
    expect(table.connectionsPerChatNode).toBe(200_000);
    expect(table.chatNodesForConnections).toBe(50);
    expect(table.chatNodesForMessages).toBe(60);
    expect(table.chatNodes).toBe(60);
  });

  it('caps connections per node below what memory allows', () => {
    const capped = computeCapacity(demand, node, { ...sizing, maxConnectionsPerChatNode: 100_000 });
    expect(capped.connectionsPerChatNode).toBe(100_000);
    expect(capped.chatNodesForConnections).toBe(100);
    expect(capped.chatNodes).toBe(100);
  });

  it('sizes routers from connects per second', () => {
    expect(table.routeRequestsPerSecond).toBe(10_000);
    expect(table.routers).toBe(10);
  });

  it('sizes Redis from messages and presence renewals', () => {
    expect(table.redisOpsPerSecond).toBe(300_000 * 2 + 200_000);
    expect(table.redisShards).toBe(8);
  });

  it('sizes Kafka from replicated bytes and consumer rate', () => {
    expect(table.kafkaBytesPerSecond).toBe(450_000_000);
    expect(table.kafkaBrokers).toBe(5);
    expect(table.kafkaPartitions).toBe(300);
  });

  it('keeps at least as many brokers as replicas', () => {
    const small = computeCapacity({ ...demand, messagesPerDay: 86_400 }, node, sizing);
    expect(small.kafkaBrokers).toBe(3);
    expect(small.cassandraNodes).toBe(3);
  });

  it('sizes Cassandra by the larger of writes and disk', () => {
    expect(table.cassandraWritesPerSecond).toBe(3_600_000);
    expect(table.cassandraNodesForWrites).toBe(60);
    expect(table.cassandraDiskBytesPerDay).toBe(8_640_000_000 * 1000 * 3);
    expect(table.cassandraNodesForDisk).toBe(260);
    expect(table.cassandraNodes).toBe(260);
  });

  it('turns offline recipients into pushes', () => {
    expect(table.pushesPerSecond).toBe(75_000);
  });

  it('rejects missing measurements', () => {
    expect(() => computeCapacity(demand, { ...node, messagesPerSecond: 0 }, sizing)).toThrow(/make bench/);
  });

  it('matches the brief at the defaults', () => {
    const brief = computeCapacity(DEFAULT_DEMAND, node, DEFAULT_SIZING);
    expect(Math.round(brief.averageMessagesPerSecond)).toBe(231_481);
    expect(Math.round(brief.peakMessagesPerSecond)).toBe(625_000);
  });
});
