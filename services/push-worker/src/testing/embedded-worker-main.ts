import { join } from 'node:path';
import { ConfigError, runService } from '@switchboard/core';
import { openPushLogs, openSqlite } from '@switchboard/embedded';
import { readPushWorkerConfig } from '../config.ts';
import { createConfiguredProviders } from '../providers.ts';
import { PushWorker } from '../push-worker.ts';

/**
 * A push worker process over the embedded profile's logs and SQLite registry in SWB_DATA_DIR,
 * for tests that kill it. The embedded profile itself runs the worker inside the launcher.
 */
runService('push-worker', async (logger) => {
  const config = readPushWorkerConfig(process.env);
  const dataDir = process.env.SWB_DATA_DIR;
  if (dataDir === undefined || dataDir === '') throw new ConfigError('SWB_DATA_DIR', 'is missing');
  const providers = createConfiguredProviders(config.providers, logger);
  const logs = await openPushLogs(dataDir, logger);
  const sqlite = openSqlite(join(dataDir, 'switchboard.db'));
  const worker = new PushWorker({
    jobs: logs.jobs,
    deadLetters: logs.dead,
    registry: sqlite.push,
    users: sqlite.store,
    providers,
    logger,
    group: config.group,
    settings: config.worker,
  });
  await worker.start();
  return async () => {
    await worker.stop();
    await logs.close();
    await Promise.all(providers.map((provider) => provider.close()));
    await sqlite.close();
  };
});
