import type { LogRecord } from '@switchboard/core';

/** A record as a Kafka message: keyed by conversation id so a conversation stays in one partition. */
export interface EncodedRecord {
  key: string;
  value: string;
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
