import { DependencyProbe, READINESS_PROBE_CONVERSATION, runService } from '@switchboard/core';
import { connectLog, connectStore } from '@switchboard/cluster';
import { SwitchboardMetrics } from '@switchboard/metrics';
import { readPersisterConfig } from './config.ts';
import { startPersisterOperations } from './operations.ts';
import { Persister } from './persister.ts';

runService('persister', async (logger) => {
  const config = readPersisterConfig(process.env);
  const metrics = new SwitchboardMetrics();

  const storeProbe = new DependencyProbe({
    name: 'store',
    check: () => store.maxSeq(READINESS_PROBE_CONVERSATION),
    logger,
  });
  const store = await connectStore(config.cluster, logger, { metrics, probe: storeProbe });
  const log = await connectLog(config.cluster, logger, 'persister');
  const group = config.cluster.persisterGroup;
  const persister = new Persister({ log, store, logger, metrics, group });
  await persister.start();
  const operations = await startPersisterOperations({
    persister,
    readLag: () => log.lag(group),
    storeProbe,
    metrics,
    host: config.host,
    port: config.metricsPort,
    lagIntervalMs: config.lagIntervalMs,
    logger,
  });

  return async () => {
    await operations.close();
    await persister.stop();
    await log.close();
    await store.close();
  };
});
