import { runService } from '@switchboard/core';
import { connectLog, connectStore, readClusterConfig } from '@switchboard/cluster';
import { Persister } from './persister.ts';

runService('persister', async (logger) => {
  const config = readClusterConfig(process.env);
  const store = await connectStore(config, logger);
  const log = await connectLog(config, logger, 'persister');
  const persister = new Persister({ log, store, logger });
  await persister.start();

  return async () => {
    await persister.stop();
    await log.close();
    await store.close();
  };
});
