import {
  DependencyProbe,
  GroupService,
  READINESS_PROBE_CONVERSATION,
  Readiness,
  readLargeGroupThreshold,
  runService,
  TokenIssuer,
} from '@switchboard/core';
import { connectBus, connectLog, connectSequencer, connectStore } from '@switchboard/cluster';
import { registerHttpOperations, startOperationsServer, SwitchboardMetrics } from '@switchboard/metrics';
import { buildApi } from './api.ts';
import { readApiConfig } from './config.ts';

runService('api', async (logger) => {
  const config = readApiConfig(process.env);
  const tokens = new TokenIssuer({
    secret: config.tokenSecret,
    accessTtlSeconds: config.accessTtlSeconds,
    refreshTtlSeconds: config.refreshTtlSeconds,
  });
  const metrics = new SwitchboardMetrics();

  const storeProbe = new DependencyProbe({
    name: 'store',
    check: () => store.maxSeq(READINESS_PROBE_CONVERSATION),
    logger,
  });
  const store = await connectStore(config.cluster, logger, { metrics, probe: storeProbe });
  const log = await connectLog(config.cluster, logger, 'api');
  // Group changes take sequence numbers and are announced to the chat nodes.
  const bus = await connectBus(config.cluster, logger, 'api');
  const sequencer = await connectSequencer(config.cluster, store, logger, 'api:sequencer');
  const groups = new GroupService({
    store,
    sequencer,
    log,
    bus,
    logger,
    largeGroupThreshold: readLargeGroupThreshold(process.env),
  });
  const readiness = new Readiness({
    probes: [
      storeProbe,
      new DependencyProbe({ name: 'log', check: () => log.lag(config.cluster.persisterGroup), logger }),
    ],
  });
  const app = buildApi({
    store,
    tokens,
    logger,
    // History reads wait for the persister's group, so that they include every acknowledged message.
    awaitPersisted: () => log.awaitConsumed(config.cluster.persisterGroup, config.persistWaitMs),
    groups,
    bus,
    push: { registry: store.push, config: config.push },
  });
  // The API's own plugin serves /healthz.
  registerHttpOperations(app, {
    metrics,
    readiness,
    healthRoute: false,
    metricsRoute: config.metricsPort === null,
  });
  await app.listen({ host: config.host, port: config.port });
  const operations =
    config.metricsPort === null
      ? null
      : await startOperationsServer({
          host: config.host,
          port: config.metricsPort,
          metrics,
          readiness,
          logger,
        });

  return async () => {
    await operations?.close();
    await app.close();
    await sequencer.close();
    await bus.close();
    await log.close();
    await store.close();
  };
});
