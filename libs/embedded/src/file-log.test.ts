import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type LogRecord } from '@switchboard/core';
import { buildMessage, runLogContract, waitFor } from '@switchboard/core/testing';
import { FileLog, type FileLogOptions } from './file-log.ts';

const logger = createLogger('file-log-test', { level: 'silent' });

async function openLog(dir: string, options: Partial<FileLogOptions> = {}): Promise<FileLog> {
  return FileLog.open({ dir, logger, retryInitialMs: 20, ...options });
}

runLogContract('FileLog', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-file-log-'));
  let log = await openLog(dir);
  return {
    log,
    async reopen() {
      await log.close();
      log = await openLog(dir);
      return log;
    },
    async close() {
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('FileLog', () => {
  let dir: string;
  const logs: FileLog[] = [];

  const open = async (options: Partial<FileLogOptions> = {}): Promise<FileLog> => {
    const log = await openLog(dir, options);
    logs.push(log);
    return log;
  };

  const readAll = async (log: FileLog, group: string, count: number): Promise<LogRecord[]> => {
    const records: LogRecord[] = [];
    const consumer = await log.consume(group, async (batch) => {
      records.push(...batch);
    });
    await waitFor(() => records.length >= count, `${count} records in group ${group}`);
    await consumer.stop();
    return records;
  };

  const message = (seq: number): LogRecord =>
    buildMessage('g.test', seq, 'alice', [], { body: 'x'.repeat(200) });

  const segmentFiles = async (): Promise<string[]> =>
    (await readdir(dir)).filter((name) => name.endsWith('.seg')).sort();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swb-file-log-'));
  });

  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('truncates a torn tail at open', async () => {
    const first = await open();
    await first.append([message(1), message(2), message(3)]);
    await first.close();
    const [segment] = await segmentFiles();
    const goodBytes = (await stat(join(dir, segment!))).size;
    // A header that promises 100 bytes, followed by only 3 of them.
    await appendFile(join(dir, segment!), Buffer.from([100, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9]));

    const reopened = await open();
    const repairedBytes = (await stat(join(dir, segment!))).size;
    await reopened.append([message(4)]);

    expect(repairedBytes).toBe(goodBytes);
    expect(reopened.endOffset).toBe(4);
    expect((await readAll(reopened, 'reader', 4)).map((entry) => entry.seq)).toEqual([1, 2, 3, 4]);
  });

  it('truncates a tail with a bad checksum', async () => {
    const first = await open();
    await first.append([message(1), message(2)]);
    await first.close();
    const [segment] = await segmentFiles();
    const corrupt = Buffer.alloc(8 + 16, 7);
    corrupt.writeUInt32LE(16, 0);
    await appendFile(join(dir, segment!), corrupt);

    const reopened = await open();

    expect(reopened.endOffset).toBe(2);
    expect((await readAll(reopened, 'reader', 2)).map((entry) => entry.seq)).toEqual([1, 2]);
  });

  it('truncates a tail of zero bytes', async () => {
    const first = await open();
    await first.append([message(1)]);
    await first.close();
    const [segment] = await segmentFiles();
    await appendFile(join(dir, segment!), Buffer.alloc(64));

    const reopened = await open();
    await reopened.append([message(2)]);

    expect((await readAll(reopened, 'reader', 2)).map((entry) => entry.seq)).toEqual([1, 2]);
  });

  it('keeps acknowledged records after kill -9', async () => {
    const script = join(dir, 'writer.mts');
    const fileLogUrl = pathToFileURL(fileURLToPath(new URL('./file-log.ts', import.meta.url))).href;
    // Appends 8 records at a time, concurrently, and prints each sequence number once its
    // append resolved, until it is killed.
    await writeFile(
      script,
      `import { FileLog } from ${JSON.stringify(fileLogUrl)};
      const log = await FileLog.open({ dir: process.argv[2], segmentBytes: 64 * 1024 });
      let seq = 0;
      for (;;) {
        const records = Array.from({ length: 8 }, () => {
          seq += 1;
          return { kind: 'message', conv: 'g.crash', seq, from: 'alice', id: 'm-' + seq, body: 'x'.repeat(300), ts: seq, targets: [] };
        });
        await Promise.all(records.map((r) => log.append([r]).then(() => process.stdout.write(r.seq + '\\n'))));
      }`,
    );
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const writer = spawn(process.execPath, ['--import', tsx, script, join(dir, 'log')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SWB_LOG_LEVEL: 'silent' },
    });
    const acknowledged: number[] = [];
    let pending = '';
    writer.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      acknowledged.push(...lines.map(Number));
    });
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    try {
      await waitFor(() => acknowledged.length >= 400, '400 acknowledged appends from the writer', 20_000);
    } finally {
      writer.kill('SIGKILL');
      await exited;
    }

    const log = await openLog(join(dir, 'log'));
    logs.push(log);
    const highest = Math.max(...acknowledged);
    const records = await readAll(log, 'reader', highest);

    expect(log.endOffset).toBeGreaterThanOrEqual(highest);
    expect(records.slice(0, highest).map((entry) => entry.seq)).toEqual(
      Array.from({ length: highest }, (_, index) => index + 1),
    );
  });

  it('rolls segments and reads across them', async () => {
    const log = await open({ segmentBytes: 1_000, maxBatchRecords: 3 });
    for (let seq = 1; seq <= 12; seq += 1) await log.append([message(seq)]);

    const files = await segmentFiles();

    expect(files.length).toBeGreaterThan(2);
    expect((await readAll(log, 'reader', 12)).map((entry) => entry.seq)).toEqual(
      Array.from({ length: 12 }, (_, index) => index + 1),
    );
  });

  it('resumes a group in a later segment', async () => {
    const first = await open({ segmentBytes: 1_000 });
    for (let seq = 1; seq <= 10; seq += 1) await first.append([message(seq)]);
    await readAll(first, 'reader', 10);
    expect(await first.awaitConsumed('reader', 1_000)).toBe(true);
    await first.close();

    const reopened = await open({ segmentBytes: 1_000 });
    await reopened.append([message(11)]);

    expect(reopened.endOffset).toBe(11);
    expect((await readAll(reopened, 'reader', 1)).map((entry) => entry.seq)).toEqual([11]);
    expect((await readAll(reopened, 'fresh', 11)).map((entry) => entry.seq)).toHaveLength(11);
  });

  it('batches concurrent appends into group commits', async () => {
    const log = await open();
    await Promise.all(Array.from({ length: 100 }, (_, index) => log.append([message(index + 1)])));

    const records = await readAll(log, 'reader', 100);

    expect(log.groupCommits).toBeLessThan(10);
    expect(records.map((entry) => entry.seq)).toEqual(Array.from({ length: 100 }, (_, index) => index + 1));
  });

  it('gathers records during the batch delay', async () => {
    const log = await open({ batchDelayMs: 300 });
    const batches: number[][] = [];
    const consumer = await log.consume('reader', async (batch) => {
      batches.push(batch.map((entry) => entry.seq));
    });
    await log.append([message(1)]);
    await waitFor(() => batches.length === 1, 'the first batch');

    for (let seq = 2; seq <= 6; seq += 1) await log.append([message(seq)]);
    await waitFor(() => batches.flat().length === 6, 'six records');
    await consumer.stop();

    expect(batches).toEqual([[1], [2, 3, 4, 5, 6]]);
  });

  it('rejects a second consumer per group', async () => {
    const log = await open();
    const consumer = await log.consume('reader', async () => {});

    await expect(log.consume('reader', async () => {})).rejects.toThrow(/already has a running consumer/);
    await consumer.stop();
  });

  it('rejects a group name with a path', async () => {
    const log = await open();

    await expect(log.consume('../escape', async () => {})).rejects.toMatchObject({
      code: 'SWB_ERR_CONFIG_INVALID',
    });
  });

  it('rejects appends after close', async () => {
    const log = await open();
    await log.close();

    await expect(log.append([message(1)])).rejects.toMatchObject({ code: 'SWB_ERR_UNAVAILABLE' });
  });

  it('rejects invalid options at open', async () => {
    await expect(openLog(dir, { segmentBytes: 0 })).rejects.toMatchObject({ variable: 'segmentBytes' });
    await expect(openLog(dir, { batchDelayMs: -1 })).rejects.toMatchObject({ variable: 'batchDelayMs' });
  });
});
