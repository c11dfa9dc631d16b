import { join } from 'node:path';
import type { Logger, PushJob } from '@switchboard/core';
import { FileLog } from './file-log.ts';

/** Directory of the push-jobs log inside the embedded profile's data directory. */
export const PUSH_JOBS_DIR = 'push-jobs';

/** Directory of the log of push jobs that failed for good, inside the data directory. */
export const PUSH_DEAD_DIR = 'push-dead';

/** The push-jobs log and its dead-letter log of one embedded deployment. */
export interface PushLogs {
  /** Jobs that chat nodes append and the push worker consumes. */
  jobs: FileLog<PushJob>;
  /** Jobs the push worker gave up on, kept for inspection. */
  dead: FileLog<PushJob>;
  close(): Promise<void>;
}

/**
 * Opens the push-jobs and dead-letter logs under `dataDir`, creating them when missing.
 *
 * One process at a time may open them, as for every FileLog, so the chat nodes and the push
 * worker of the embedded profile share the instances this returns.
 */
export async function openPushLogs(dataDir: string, logger?: Logger): Promise<PushLogs> {
  const options = logger === undefined ? {} : { logger };
  const jobs = await FileLog.open<PushJob>({ dir: join(dataDir, PUSH_JOBS_DIR), ...options });
  let dead: FileLog<PushJob>;
  try {
    dead = await FileLog.open<PushJob>({ dir: join(dataDir, PUSH_DEAD_DIR), ...options });
  } catch (err) {
    await jobs.close();
    throw err;
  }
  return {
    jobs,
    dead,
    async close() {
      await Promise.all([jobs.close(), dead.close()]);
    },
  };
}
