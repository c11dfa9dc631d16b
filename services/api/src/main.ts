import { readHost, readInt, readPort, runService, TokenIssuer } from '@switchboard/core';
import { connectLog, connectStore, readClusterConfig, readTokenSecret } from '@switchboard/cluster';
import { buildApi } from './api.ts';

/** Consumer group of the persister, whose progress history reads wait for. */
const PERSISTER_GROUP = 'persister';

runService('api', async (logger) => {
  const env = process.env;
  const config = readClusterConfig(env);
  const tokens = new TokenIssuer({
    secret: readTokenSecret(env),
    accessTtlSeconds: readInt(env, 'SWB_ACCESS_TTL_SECONDS', 900, { min: 10 }),
    refreshTtlSeconds: readInt(env, 'SWB_REFRESH_TTL_SECONDS', 30 * 24 * 3600, { min: 60 }),
  });
  const host = readHost(env, 'SWB_HOST', '127.0.0.1');
  const port = readPort(env, 'SWB_API_PORT', 8080);
  const persistWaitMs = readInt(env, 'SWB_PERSIST_WAIT_MS', 2000, { min: 0 });

  const store = await connectStore(config, logger);
  const log = await connectLog(config, logger, 'api');
  const app = buildApi({
    store,
    tokens,
    logger,
    awaitPersisted: () => log.awaitConsumed(PERSISTER_GROUP, persistWaitMs),
  });
  await app.listen({ host, port });

  return async () => {
    await app.close();
    await log.close();
    await store.close();
  };
});
