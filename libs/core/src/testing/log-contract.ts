import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DurableLog, LogConsumer, LogRecord } from '../ports/index.ts';
import { buildMessage, buildReceipt } from './test-records.ts';
import { uniqueId, waitFor } from './wait-for.ts';

export interface LogFixture {
  log: DurableLog;
  /** Closes the current log and opens a new one over the same storage. */
  reopen(): Promise<DurableLog>;
  /** Closes the current log and releases its storage. */
  close(): Promise<void>;
}

/** Records a consumer's batches; `accepted` lists the records whose handler call resolved. */
interface Recording {
  attempts: LogRecord[][];
  accepted: LogRecord[];
  consumer: LogConsumer;
}

async function record(
  log: DurableLog,
  group: string,
  decide: (attempt: number, records: LogRecord[]) => Promise<void> = async () => {},
): Promise<Recording> {
  const attempts: LogRecord[][] = [];
  const accepted: LogRecord[] = [];
  const consumer = await log.consume(group, async (records) => {
    attempts.push(records);
    await decide(attempts.length, records);
    accepted.push(...records);
  });
  return { attempts, accepted, consumer };
}

function seqs(records: LogRecord[]): number[] {
  return records.map((entry) => entry.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

/**
 * Declares the behaviour every DurableLog adapter must have.
 *
 * Each test uses fresh consumer groups and conversation ids, so a log server that other
 * runs share does not disturb it, as long as `open` gives each test its own topic.
 */
export function runLogContract(name: string, open: () => Promise<LogFixture>): void {
  describe(`${name} log contract`, () => {
    let fixture: LogFixture;
    let log: DurableLog;
    let conv: string;
    let group: string;
    const consumers = new Set<LogConsumer>();
    const gates: Array<() => void> = [];

    const message = (seq: number): LogRecord => buildMessage(conv, seq, 'alice', [{ user: 'bob', pos: seq }]);

    /** Starts a recording consumer that afterEach stops unless the test stopped it. */
    const start = async (
      consumerGroup: string,
      decide?: (attempt: number, records: LogRecord[]) => Promise<void>,
    ): Promise<Recording> => {
      const recording = await record(log, consumerGroup, decide);
      consumers.add(recording.consumer);
      return recording;
    };

    const stop = async (recording: Recording): Promise<void> => {
      consumers.delete(recording.consumer);
      await recording.consumer.stop();
    };

    /** Returns a promise that keeps a handler waiting until `open` is called or afterEach runs. */
    const gate = (): { promise: Promise<void>; open: () => void } => {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      gates.push(open);
      return { promise, open };
    };

    beforeEach(async () => {
      fixture = await open();
      log = fixture.log;
      conv = `g.${uniqueId('log')}`;
      group = uniqueId('group');
    });

    afterEach(async () => {
      for (const open of gates.splice(0)) open();
      for (const consumer of consumers) await consumer.stop();
      consumers.clear();
      await fixture.close();
    });

    it('hands appended records to a consumer in order', async () => {
      const receipt = buildReceipt(conv, 'bob', 'read', 2, [{ user: 'alice', pos: 9 }]);
      await log.append([message(1), message(2)]);
      await log.append([receipt]);
      await log.append([message(3), message(4)]);

      const recording = await start(group);

      await waitFor(() => recording.accepted.length === 5, 'five records to be consumed');
      expect(recording.accepted).toEqual([message(1), message(2), receipt, message(3), message(4)]);
    });

    it('hands over records appended after the consumer started', async () => {
      const recording = await start(group);

      await log.append([message(1)]);
      await waitFor(() => recording.accepted.length === 1, 'the first record to be consumed');
      await log.append([message(2), message(3)]);

      await waitFor(() => recording.accepted.length === 3, 'the later records to be consumed');
      expect(seqs(recording.accepted)).toEqual([1, 2, 3]);
    });

    it('resolves each of many concurrent appends', async () => {
      await Promise.all(range(1, 50).map((seq) => log.append([message(seq)])));

      const recording = await start(group);

      await waitFor(() => recording.accepted.length >= 50, 'fifty records to be consumed');
      expect(seqs(recording.accepted).sort((a, b) => a - b)).toEqual(range(1, 50));
    });

    it('resolves an append of no records', async () => {
      await expect(log.append([])).resolves.toBeUndefined();
    });

    it('redelivers a batch whose handler rejected', async () => {
      await log.append([message(1), message(2), message(3)]);

      const recording = await start(group, async (attempt) => {
        if (attempt === 1) throw new Error('handler failure for the test');
      });

      await waitFor(() => recording.accepted.length === 3, 'three records to be accepted');
      expect(recording.attempts[1]![0]).toEqual(recording.attempts[0]![0]);
      expect(seqs(recording.accepted)).toEqual([1, 2, 3]);
    });

    it('does not commit a batch whose handler keeps rejecting', async () => {
      await log.append([message(1), message(2)]);
      const failing = await start(group, async () => {
        throw new Error('handler failure for the test');
      });
      await waitFor(() => failing.attempts.length >= 1, 'the handler to be called');
      await stop(failing);

      expect(await log.awaitConsumed(group, 50)).toBe(false);

      const recording = await start(group);
      await waitFor(() => recording.accepted.length === 2, 'the records to be redelivered');
      expect(seqs(recording.accepted)).toEqual([1, 2]);
    });

    it('resumes a group after its last committed batch', async () => {
      await log.append([message(1), message(2), message(3)]);
      const first = await start(group);
      await waitFor(() => first.accepted.length === 3, 'three records to be consumed');
      expect(await log.awaitConsumed(group, 5_000)).toBe(true);
      await stop(first);

      await log.append([message(4), message(5)]);
      const second = await start(group);

      expect(await log.awaitConsumed(group, 5_000)).toBe(true);
      expect(seqs(second.accepted)).toEqual([4, 5]);
    });

    it('waits in stop for the batch in progress to commit', async () => {
      const hold = gate();
      await log.append([message(1)]);
      const recording = await start(group, () => hold.promise);
      await waitFor(() => recording.attempts.length === 1, 'the handler to be called');

      const stopped = stop(recording);
      hold.open();
      await stopped;

      expect(seqs(recording.accepted)).toEqual([1]);
      expect(await log.awaitConsumed(group, 1_000)).toBe(true);
    });

    it('reports a group behind until it commits', async () => {
      await log.append([message(1), message(2)]);
      expect(await log.awaitConsumed(group, 50)).toBe(false);

      const hold = gate();
      const recording = await start(group, () => hold.promise);
      await waitFor(() => recording.attempts.length >= 1, 'the handler to be called');
      expect(await log.awaitConsumed(group, 50)).toBe(false);

      hold.open();
      expect(await log.awaitConsumed(group, 5_000)).toBe(true);
    });

    it('waits only for records appended before the call', async () => {
      await log.append([message(1)]);
      let hold = gate();
      hold.open();
      const recording = await start(group, () => hold.promise);
      expect(await log.awaitConsumed(group, 5_000)).toBe(true);

      hold = gate();
      const caughtUp = log.awaitConsumed(group, 2_000);
      await log.append([message(2)]);

      expect(await caughtUp).toBe(true);
      expect(seqs(recording.accepted)).toEqual([1]);
    });

    it('keeps records, offsets and commits across reopen', async () => {
      await log.append([message(1), message(2), message(3)]);
      const before = await start(group);
      await waitFor(() => before.accepted.length === 3, 'three records to be consumed');
      expect(await log.awaitConsumed(group, 5_000)).toBe(true);
      await stop(before);

      log = await fixture.reopen();
      await log.append([message(4), message(5)]);

      const resumed = await start(group);
      const fresh = await start(uniqueId('group'));
      await waitFor(() => fresh.accepted.length === 5, 'a new group to read all five records');
      expect(await log.awaitConsumed(group, 5_000)).toBe(true);
      expect(seqs(resumed.accepted)).toEqual([4, 5]);
      expect(seqs(fresh.accepted)).toEqual([1, 2, 3, 4, 5]);
    });
  });
}
