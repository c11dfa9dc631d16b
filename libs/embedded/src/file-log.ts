import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConfigError,
  UnavailableError,
  createLogger,
  type DurableLog,
  type LogConsumer,
  type LogRecord,
  type Logger,
} from '@switchboard/core';
import { FileLogConsumer } from './file-log-consumer.ts';
import { readGroupOffset, writeGroupOffset } from './group-offset-file.ts';
import { encodeFrame } from './log-frame.ts';
import { loadSegments, segmentPath, syncDirectory, type Segment } from './log-segments.ts';
import { WakeSignal } from './wake-signal.ts';

export interface FileLogOptions {
  /** Directory of the segment files and of `groups/<group>.offset`; created when missing. */
  dir: string;
  /** Size in bytes past which appends go to a new segment file; default 64 MiB. */
  segmentBytes?: number;
  /** Maximum number of records handed to a consumer's handler at once; default 500. */
  maxBatchRecords?: number;
  /**
   * Pause in milliseconds after a consumer handled a batch shorter than `maxBatchRecords`, so
   * that records gather into fewer, larger batches; default 0. Delays each record by up to it.
   */
  batchDelayMs?: number;
  /** First delay in milliseconds before a rejected batch is retried; default 100. */
  retryInitialMs?: number;
  /** Maximum delay in milliseconds between retries of a rejected batch; default 5000. */
  retryMaxMs?: number;
  logger?: Logger;
}

interface PendingAppend {
  frames: Buffer[];
  resolve: () => void;
  reject: (err: Error) => void;
}

interface GroupState {
  committed: number;
  consumer: FileLogConsumer | null;
  /** awaitConsumed calls still waiting; each is called after every commit and on close. */
  waiters: Set<() => void>;
}

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * The durable log of the embedded profile: numbered segment files of CRC32-checked frames.
 *
 * Offsets are record indexes from 0 that continue across restarts. Appends are group
 * committed: appends that arrive while a write and fdatasync are in flight go into the
 * next write together, and each `append` resolves after its own records were synced.
 *
 * NOTE: one FileLog at a time may use a directory; nothing locks it against a second
 * process. Segments are never deleted, so the directory grows with the log.
 */
export class FileLog<R extends object = LogRecord> implements DurableLog<R> {
  readonly #dir: string;
  readonly #groupsDir: string;
  readonly #segmentBytes: number;
  readonly #maxBatchRecords: number;
  readonly #batchDelayMs: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #logger: Logger;
  readonly #segments: Segment[];
  readonly #groups = new Map<string, Promise<GroupState>>();
  readonly #appended = new WakeSignal();
  #writer: FileHandle;
  #endOffset: number;
  #groupCommits = 0;
  #queue: PendingAppend[] = [];
  #flushing: Promise<void> | null = null;
  /** Set when a failed write could not be undone; every later append is rejected. */
  #failure: Error | null = null;
  #closed = false;

  private constructor(options: Required<FileLogOptions>, segments: Segment[], writer: FileHandle) {
    this.#dir = options.dir;
    this.#groupsDir = join(options.dir, 'groups');
    this.#segmentBytes = options.segmentBytes;
    this.#maxBatchRecords = options.maxBatchRecords;
    this.#batchDelayMs = options.batchDelayMs;
    this.#retryInitialMs = options.retryInitialMs;
    this.#retryMaxMs = options.retryMaxMs;
    this.#logger = options.logger;
    this.#segments = segments;
    this.#writer = writer;
    const last = segments.at(-1)!;
    this.#endOffset = last.base + last.records;
  }

  /** Opens the log in `options.dir`, truncating a torn tail left by a crash. */
  static async open<R extends object = LogRecord>(options: FileLogOptions): Promise<FileLog<R>> {
    const resolved = resolveOptions(options);
    await mkdir(join(resolved.dir, 'groups'), { recursive: true });

    const segments = await loadSegments(resolved.dir, resolved.logger);
    if (segments.length === 0) {
      const path = segmentPath(resolved.dir, 0);
      await (await open(path, 'a')).close();
      await syncDirectory(resolved.dir);
      segments.push({ base: 0, path, records: 0, bytes: 0 });
    }
    const writer = await open(segments.at(-1)!.path, 'r+');
    const log = new FileLog<R>(resolved, segments, writer);
    resolved.logger.info({ dir: resolved.dir, endOffset: log.#endOffset }, 'file log opened');
    return log;
  }

  /** Offset that the next appended record gets. */
  get endOffset(): number {
    return this.#endOffset;
  }

  /** Number of writes with fdatasync since open, each carrying one or more appends. */
  get groupCommits(): number {
    return this.#groupCommits;
  }

  /**
   * Returns the records that `group` has not committed: the end offset minus the group's
   * committed offset. Rejects with UnavailableError once the log is closed or failed, so a
   * readiness check can use it.
   */
  async lag(group: string): Promise<number> {
    this.#assertWritable();
    const state = await this.#groupState(group);
    return Math.max(0, this.#endOffset - state.committed);
  }

  async append(records: R[]): Promise<void> {
    this.#assertWritable();
    if (records.length === 0) return;

    const frames = records.map(encodeFrame);
    return new Promise((resolve, reject) => {
      this.#queue.push({ frames, resolve, reject });
      if (this.#flushing === null) this.#flushing = this.#flush();
    });
  }

  async consume(group: string, handler: (records: R[]) => Promise<void>): Promise<LogConsumer> {
    this.#assertOpen();
    const state = await this.#groupState(group);
    this.#assertOpen();
    if (state.consumer !== null) {
      throw new Error(`consumer group ${group} already has a running consumer on this log`);
    }

    const consumer = new FileLogConsumer({
      group,
      offset: state.committed,
      // Records are read back from the JSON that `append` wrote, so they are of type R.
      handler: handler as (records: unknown[]) => Promise<void>,
      maxBatchRecords: this.#maxBatchRecords,
      batchDelayMs: this.#batchDelayMs,
      retryInitialMs: this.#retryInitialMs,
      retryMaxMs: this.#retryMaxMs,
      segments: () => this.#segments,
      endOffset: () => this.#endOffset,
      waitForAppend: () => this.#appended.wait(),
      commit: (offset) => this.#commit(group, state, offset),
      logger: this.#logger,
    });
    state.consumer = consumer;
    consumer.start();
    return {
      stop: async () => {
        await consumer.stop();
        if (state.consumer === consumer) state.consumer = null;
      },
    };
  }

  // NOTE: this sees only commits made through this FileLog object; a consumer of the same
  // directory in another process does not wake it, so the call times out instead.
  async awaitConsumed(group: string, timeoutMs: number): Promise<boolean> {
    this.#assertOpen();
    const target = this.#endOffset;
    const state = await this.#groupState(group);
    if (state.committed >= target) return true;

    return new Promise((resolve) => {
      const waiter = (): void => {
        if (!this.#closed && state.committed < target) return;
        finish(state.committed >= target);
      };
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        state.waiters.delete(waiter);
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      state.waiters.add(waiter);
    });
  }

  /** Stops the consumers, waits for appends in flight to be synced, then closes the files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;

    for (const pending of this.#groups.values()) {
      const state = await pending.catch(() => null);
      if (state === null) continue;
      await state.consumer?.stop();
      state.consumer = null;
      for (const waiter of [...state.waiters]) waiter();
    }
    await this.#flushing;
    await this.#writer.close();
    this.#logger.info({ dir: this.#dir, endOffset: this.#endOffset }, 'file log closed');
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        await this.#write(batch);
      }
    } finally {
      // Runs in the same turn as the last empty-queue check, so no append can slip between.
      this.#flushing = null;
    }
  }

  /** Writes one group commit; never throws, and rejects the batch's appends on failure. */
  async #write(batch: PendingAppend[]): Promise<void> {
    const frames = batch.flatMap((pending) => pending.frames);
    const data = Buffer.concat(frames);
    let segment = this.#segments.at(-1)!;
    try {
      if (this.#failure !== null) throw this.#failure;
      if (segment.bytes > 0 && segment.bytes + data.length > this.#segmentBytes) {
        segment = await this.#roll();
      }
      await writeFully(this.#writer, data, segment.bytes);
      await this.#writer.datasync();
    } catch (err) {
      await this.#undoWrite(segment, err);
      const error = new UnavailableError('durable log append failed', { cause: err });
      for (const pending of batch) pending.reject(error);
      return;
    }

    this.#groupCommits += 1;
    segment.bytes += data.length;
    segment.records += frames.length;
    this.#endOffset += frames.length;
    for (const pending of batch) pending.resolve();
    this.#appended.notify();
  }

  /** Cuts a partly written batch off the segment so that the next write starts clean. */
  async #undoWrite(segment: Segment, cause: unknown): Promise<void> {
    if (this.#failure !== null) return;
    this.#logger.error({ err: cause, segment: segment.path }, 'log append failed');
    try {
      await this.#writer.truncate(segment.bytes);
      await this.#writer.datasync();
    } catch (err) {
      this.#failure = new Error(`log segment ${segment.path} could not be truncated after a failed write`, {
        cause: err,
      });
      this.#logger.error({ err, segment: segment.path }, 'log append disabled until reopen');
    }
  }

  async #roll(): Promise<Segment> {
    const segment: Segment = {
      base: this.#endOffset,
      path: segmentPath(this.#dir, this.#endOffset),
      records: 0,
      bytes: 0,
    };
    // 'w+' rather than 'wx+': a failed roll may have left this file behind, empty.
    const writer = await open(segment.path, 'w+');
    try {
      await syncDirectory(this.#dir);
    } catch (err) {
      await writer.close();
      throw err;
    }
    await this.#writer.close();
    this.#writer = writer;
    this.#segments.push(segment);
    this.#logger.info({ segment: segment.path, base: segment.base }, 'log segment rolled');
    return segment;
  }

  #groupState(group: string): Promise<GroupState> {
    if (!GROUP_NAME.test(group)) {
      throw new ConfigError(
        'group',
        `invalid consumer group name ${JSON.stringify(group)}, expected 1 to 128 characters of A-Z, a-z, 0-9, _, . and -`,
      );
    }
    let state = this.#groups.get(group);
    if (state === undefined) {
      state = this.#loadGroup(group);
      this.#groups.set(group, state);
      // A failed load is retried by the next call instead of being cached.
      state.catch(() => this.#groups.delete(group));
    }
    return state;
  }

  async #loadGroup(group: string): Promise<GroupState> {
    const stored = await readGroupOffset(this.#groupsDir, group);
    const committed = Math.min(stored, this.#endOffset);
    if (committed < stored) {
      this.#logger.warn({ group, stored, endOffset: this.#endOffset }, 'group offset past log end lowered');
    }
    return { committed, consumer: null, waiters: new Set() };
  }

  async #commit(group: string, state: GroupState, offset: number): Promise<void> {
    await writeGroupOffset(this.#groupsDir, group, offset);
    state.committed = offset;
    for (const waiter of [...state.waiters]) waiter();
  }

  #assertOpen(): void {
    if (this.#closed) throw new UnavailableError('durable log is closed');
  }

  #assertWritable(): void {
    this.#assertOpen();
    if (this.#failure !== null) {
      throw new UnavailableError('durable log is failed; reopen it', { cause: this.#failure });
    }
  }
}

function resolveOptions(options: FileLogOptions): Required<FileLogOptions> {
  const resolved = {
    dir: options.dir,
    segmentBytes: options.segmentBytes ?? 64 * 1024 * 1024,
    maxBatchRecords: options.maxBatchRecords ?? 500,
    batchDelayMs: options.batchDelayMs ?? 0,
    retryInitialMs: options.retryInitialMs ?? 100,
    retryMaxMs: options.retryMaxMs ?? 5_000,
    logger: options.logger ?? createLogger('file-log'),
  };
  if (typeof resolved.dir !== 'string' || resolved.dir === '') {
    throw new ConfigError('dir', 'missing log directory');
  }
  for (const name of ['segmentBytes', 'maxBatchRecords', 'retryInitialMs', 'retryMaxMs'] as const) {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(name, `expected a positive integer, got ${String(value)}`);
    }
  }
  if (!Number.isSafeInteger(resolved.batchDelayMs) || resolved.batchDelayMs < 0) {
    throw new ConfigError(
      'batchDelayMs',
      `expected a non-negative integer, got ${String(resolved.batchDelayMs)}`,
    );
  }
  return resolved;
}

async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    if (bytesWritten === 0) {
      throw new Error(`log segment write made no progress at byte ${position + written}`);
    }
    written += bytesWritten;
  }
}
