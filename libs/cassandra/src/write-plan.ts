import type { LogRecord, MessageRecord, ReceiptRecord, StreamTarget } from '@switchboard/core';
import type { Statements } from './statements.ts';

export interface BoundStatement {
  query: string;
  params: unknown[];
}

/** The writes of one applyRecords call. */
export interface WritePlan {
  /** Conversation and stream heads, written before the rows they cover. */
  heads: BoundStatement[];
  /** Row writes grouped by partition, each group small enough for one unlogged batch. */
  batches: BoundStatement[][];
}

/**
 * Statements per batch.
 *
 * Cassandra applies a single-partition batch as one mutation, and its size check
 * (BatchStatement.verifyBatchSize) skips batches of one mutation. A mutation may still not
 * exceed max_mutation_size, half the commit log segment (16 MiB by default). 100 messages at
 * the protocol's default body limit of 4 KiB stay near 400 KiB.
 */
const MAX_BATCH_STATEMENTS = 100;

/**
 * Plans the idempotent writes of a batch of log records.
 *
 * Rows are keyed by (conversation, sequence number) and (user, stream position), and a key
 * seen twice in one batch is written once. Heads and watermarks keep only the highest value
 * per key, written with USING TIMESTAMP equal to that value, so a replay or an older record
 * arriving late never lowers them.
 */
export function planWrites(records: readonly LogRecord[], cql: Statements, bucketSize: number): WritePlan {
  const partitions = new Map<string, Map<string, BoundStatement>>();
  const addRow = (partition: string, key: string, statement: BoundStatement) => {
    let rows = partitions.get(partition);
    if (rows === undefined) {
      rows = new Map();
      partitions.set(partition, rows);
    }
    rows.set(key, statement);
  };
  const lastMessages = new Map<string, MessageRecord>();
  const streamHeads = new Map<string, number>();
  const watermarks = new Map<string, ReceiptRecord>();

  const addStreamEntries = (targets: StreamTarget[], entry: (target: StreamTarget) => BoundStatement) => {
    for (const target of targets) {
      const bucket = Math.floor(target.pos / bucketSize);
      addRow(`stream\u0000${target.user}\u0000${bucket}`, String(target.pos), entry(target));
      if (target.pos > (streamHeads.get(target.user) ?? -1)) streamHeads.set(target.user, target.pos);
    }
  };

  for (const record of records) {
    if (record.kind === 'message') {
      const bucket = Math.floor(record.seq / bucketSize);
      addRow(`messages\u0000${record.conv}\u0000${bucket}`, String(record.seq), {
        query: cql.insertMessage,
        params: [
          record.conv,
          bucket,
          record.seq,
          record.from,
          record.id,
          record.body,
          new Date(record.ts),
          record.event === undefined ? null : JSON.stringify(record.event),
          record.hiddenFrom ?? null,
        ],
      });
      if (record.seq > (lastMessages.get(record.conv)?.seq ?? -1)) lastMessages.set(record.conv, record);
      addStreamEntries(record.targets, (target) => ({
        query: cql.insertStreamEntry,
        params: [
          target.user,
          Math.floor(target.pos / bucketSize),
          target.pos,
          'message',
          record.conv,
          record.seq,
          record.from,
          null,
          new Date(record.ts),
        ],
      }));
      continue;
    }

    const key = `${record.conv}\u0000${record.user}\u0000${record.receipt}`;
    if (record.seq > (watermarks.get(key)?.seq ?? -1)) watermarks.set(key, record);
    addStreamEntries(record.targets, (target) => ({
      query: cql.insertStreamEntry,
      params: [
        target.user,
        Math.floor(target.pos / bucketSize),
        target.pos,
        'receipt',
        record.conv,
        record.seq,
        record.user,
        record.receipt,
        new Date(record.ts),
      ],
    }));
  }

  for (const receipt of watermarks.values()) {
    const query = receipt.receipt === 'read' ? cql.raiseReadSeq : cql.raiseDeliveredSeq;
    addRow(`members\u0000${receipt.conv}`, `${receipt.user}\u0000${receipt.receipt}`, {
      query,
      params: [receipt.seq, receipt.seq, receipt.conv, receipt.user],
    });
  }

  const heads: BoundStatement[] = [];
  for (const message of lastMessages.values()) {
    heads.push({
      query: cql.raiseConversationHead,
      params: [
        message.seq,
        message.seq,
        message.from,
        message.id,
        message.body,
        new Date(message.ts),
        message.event === undefined ? null : JSON.stringify(message.event),
        message.hiddenFrom ?? null,
        message.conv,
      ],
    });
  }
  for (const [user, pos] of streamHeads) {
    heads.push({ query: cql.raiseStreamHead, params: [pos, pos, user] });
  }

  const batches: BoundStatement[][] = [];
  for (const rows of partitions.values()) {
    const statements = [...rows.values()];
    for (let start = 0; start < statements.length; start += MAX_BATCH_STATEMENTS) {
      batches.push(statements.slice(start, start + MAX_BATCH_STATEMENTS));
    }
  }
  return { heads, batches };
}
