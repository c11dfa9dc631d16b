import { DependencyProbe, Readiness, runService, TokenIssuer } from '@switchboard/core';
import { connectBus } from '@switchboard/cluster';
import { registerHttpOperations, startOperationsServer, SwitchboardMetrics } from '@switchboard/metrics';
import { buildRingCondition, buildRouter } from './app.ts';
import { readRouterConfig } from './config.ts';

runService('router', async (logger) => {
  const config = readRouterConfig(process.env);
  const tokens = new TokenIssuer({
    secret: config.tokenSecret,
    accessTtlSeconds: 900,
    refreshTtlSeconds: 3600,
  });
  const metrics = new SwitchboardMetrics();

  const bus = await connectBus(config.cluster, logger, 'router');
  const { app, membership } = await buildRouter({ bus, tokens, logger, refreshMs: config.refreshMs });
  metrics.watchRing(membership);
  const readiness = new Readiness({
    probes: [new DependencyProbe({ name: 'bus', check: () => bus.members(), logger })],
    conditions: [buildRingCondition(membership)],
  });
  registerHttpOperations(app, { metrics, readiness, metricsRoute: config.metricsPort === null });
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
    await bus.close();
  };
});
