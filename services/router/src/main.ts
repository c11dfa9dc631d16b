import { readHost, readInt, readPort, runService, TokenIssuer } from '@switchboard/core';
import { connectBus, readClusterConfig, readTokenSecret } from '@switchboard/cluster';
import { buildRouter } from './app.ts';

runService('router', async (logger) => {
  const env = process.env;
  const config = readClusterConfig(env);
  const tokens = new TokenIssuer({
    secret: readTokenSecret(env),
    accessTtlSeconds: 900,
    refreshTtlSeconds: 3600,
  });
  const host = readHost(env, 'SWB_HOST', '127.0.0.1');
  const port = readPort(env, 'SWB_ROUTER_PORT', 8081);
  const refreshMs = readInt(env, 'SWB_HEARTBEAT_INTERVAL_MS', 1000, { min: 50 });

  const bus = await connectBus(config, logger, 'router');
  const { app } = await buildRouter({ bus, tokens, logger, refreshMs });
  await app.listen({ host, port });

  return async () => {
    await app.close();
    await bus.close();
  };
});
