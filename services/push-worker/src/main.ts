import { DependencyProbe, READINESS_PROBE_CONVERSATION, runService } from '@switchboard/core';
import { connectPushDeadLog, connectPushJobLog, connectStore } from '@switchboard/cluster';
import { SwitchboardMetrics } from '@switchboard/metrics';
import { readPushWorkerConfig } from './config.ts';
import { startPushWorkerOperations } from './operations.ts';
import { createConfiguredProviders } from './providers.ts';
import { PushWorker } from './push-worker.ts';

runService('push-worker', async (logger) => {
  const config = readPushWorkerConfig(process.env);
  // Created before any connection, so that bad credentials exit with 78 at once.
  const providers = createConfiguredProviders(config.providers, logger);
  const metrics = new SwitchboardMetrics();

  const registryProbe = new DependencyProbe({
    name: 'store',
    check: () => store.maxSeq(READINESS_PROBE_CONVERSATION),
    logger,
  });
  const store = await connectStore(config.cluster, logger, { metrics, probe: registryProbe });
  const jobs = await connectPushJobLog(config.cluster, logger, 'push-worker');
  const deadLetters = await connectPushDeadLog(config.cluster, logger, 'push-worker-dead');
  const worker = new PushWorker({
    jobs,
    deadLetters,
    registry: store.push,
    users: store,
    providers,
    logger,
    metrics,
    group: config.group,
    settings: config.worker,
  });
  await worker.start();
  const operations = await startPushWorkerOperations({
    worker,
    readLag: () => jobs.lag(config.group),
    registryProbe,
    metrics,
    host: config.host,
    port: config.metricsPort,
    lagIntervalMs: config.lagIntervalMs,
    logger,
  });

  return async () => {
    await operations.close();
    await worker.stop();
    await jobs.close();
    await deadLetters.close();
    await Promise.all(providers.map((provider) => provider.close()));
    await store.close();
  };
});
