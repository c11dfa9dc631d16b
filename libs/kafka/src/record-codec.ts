import type { LogRecord, PushJob } from '@switchboard/core';

/** A record as a Kafka message: keyed by conversation id so a conversation stays in one partition. */
export interface EncodedRecord {
  key: string;
  value: string;
}

/** Turns records of one log into Kafka messages and back. */
export interface KafkaRecordCodec<R> {
  encode(record: R): EncodedRecord;
  /** Throws when the value is not a record of this log; the consumer logs and skips it. */
  decode(value: Buffer | null): R;
}

export function encodeRecord(record: LogRecord): EncodedRecord {
  return { key: record.conv, value: JSON.stringify(record) };
}

/**
 * Parses a message value back into a record.
 *
 * Throws when the value is not JSON of a message or receipt record, which means that something
 * other than this adapter wrote to the topic.
 */
export function decodeRecord(value: Buffer | null): LogRecord {
  if (value === null) throw new Error('log message has no value');
  const parsed: unknown = JSON.parse(value.toString('utf8'));
  if (!isLogRecord(parsed)) {
    throw new Error('log message value is not a message or receipt record');
  }
  return parsed;
}

function isLogRecord(value: unknown): value is LogRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Partial<LogRecord>;
  return (
    (record.kind === 'message' || record.kind === 'receipt') &&
    typeof record.conv === 'string' &&
    typeof record.seq === 'number' &&
    Array.isArray(record.targets)
  );
}

/** Codec of the messages log: message and receipt records keyed by conversation. */
export const LOG_RECORD_CODEC: KafkaRecordCodec<LogRecord> = { encode: encodeRecord, decode: decodeRecord };

/**
 * Codec of the push-jobs log: jobs keyed by recipient, so the jobs of one user stay in one
 * partition and one push worker consumes all of them in order.
 */
export const PUSH_JOB_CODEC: KafkaRecordCodec<PushJob> = {
  encode: (job) => ({ key: job.user, value: JSON.stringify(job) }),
  decode: (value) => {
    if (value === null) throw new Error('push job message has no value');
    const parsed: unknown = JSON.parse(value.toString('utf8'));
    if (!isPushJob(parsed)) throw new Error('push job message value is not a push job');
    return parsed;
  },
};

function isPushJob(value: unknown): value is PushJob {
  if (typeof value !== 'object' || value === null) return false;
  const job = value as Partial<PushJob>;
  return (
    typeof job.id === 'string' &&
    typeof job.user === 'string' &&
    typeof job.conv === 'string' &&
    typeof job.seq === 'number' &&
    (job.kind === 'message' || job.kind === 'channel') &&
    typeof job.attempts === 'number'
  );
}
