import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type PushJob } from '@switchboard/core';
import { FileLog } from '@switchboard/embedded';
import { PushJobQueue } from './push-job-queue.ts';

const logger = createLogger('test', { level: 'silent' });

function buildJob(seq: number, user = 'bob'): PushJob {
  return {
    id: `d.alice.bob:${seq}:${user}`,
    user,
    conv: 'd.alice.bob',
    seq,
    from: 'alice',
    kind: 'message',
    body: `message ${seq}`,
    ts: 1_000 + seq,
    attempts: 0,
  };
}

async function readAll(log: FileLog<PushJob>, count: number): Promise<PushJob[]> {
  const read: PushJob[] = [];
  const consumer = await log.consume('reader', async (batch) => {
    read.push(...batch);
  });
  const deadline = Date.now() + 5_000;
  while (read.length < count && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
  await consumer.stop();
  return read;
}

describe('PushJobQueue', () => {
  let dir: string;
  let log: FileLog<PushJob>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swb-push-queue-'));
    log = await FileLog.open<PushJob>({ dir, logger });
  });

  afterEach(async () => {
    await log.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('appends jobs of one turn in one write', async () => {
    const queue = new PushJobQueue({ log, logger });
    for (let seq = 1; seq <= 5; seq++) queue.add(buildJob(seq));
    await queue.drain();

    expect(queue.stats).toEqual({ appended: 5, failed: 0, dropped: 0 });
    expect(log.groupCommits).toBe(1);
    expect((await readAll(log, 5)).map((job) => job.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('splits a burst into batches of maxBatch', async () => {
    const queue = new PushJobQueue({ log, logger, maxBatch: 2 });
    for (let seq = 1; seq <= 5; seq++) queue.add(buildJob(seq));
    await queue.drain();

    expect(queue.stats.appended).toBe(5);
    expect(log.groupCommits).toBe(3);
  });

  it('drops and counts jobs beyond maxPending', async () => {
    const queue = new PushJobQueue({ log, logger, maxPending: 3 });
    for (let seq = 1; seq <= 5; seq++) queue.add(buildJob(seq));
    await queue.drain();

    expect(queue.stats).toEqual({ appended: 3, failed: 0, dropped: 2 });
    expect((await readAll(log, 3)).map((job) => job.seq)).toEqual([1, 2, 3]);
  });

  it('counts a failed append without throwing', async () => {
    const queue = new PushJobQueue({ log, logger });
    await log.close();
    queue.add(buildJob(1));
    queue.add(buildJob(2));
    await queue.drain();

    expect(queue.stats).toEqual({ appended: 0, failed: 2, dropped: 0 });
  });
});
