/**
 * The server side of `loadtests/bench-groups.ts`: the embedded cluster on free loopback ports,
 * over a data directory that the bench filled with users and groups beforehand.
 *
 * Reads SWB_DATA_DIR, SWB_TOKEN_SECRET and SWB_LARGE_GROUP_THRESHOLD, and prints one line
 * `GROUP_BENCH_READY <json>` with the API origin once every service is up. It leaves out the
 * web client, whose build the launcher's own entry point would run first.
 */
import { createLogger, readLargeGroupThreshold, readString } from '@switchboard/core';
import { startEmbeddedCluster } from '@switchboard/launcher';

const env = process.env;
const logger = createLogger('group-bench', { level: env.SWB_LOG_LEVEL ?? 'warn' });
const cluster = await startEmbeddedCluster({
  dataDir: readString(env, 'SWB_DATA_DIR', ''),
  host: '127.0.0.1',
  httpPort: 0,
  chatNodes: 2,
  chatPortBase: 0,
  tokenSecret: readString(env, 'SWB_TOKEN_SECRET', ''),
  largeGroupThreshold: readLargeGroupThreshold(env),
  // A bench sender sends far more than a person, and each reader fetches after every notice.
  policy: { framesPerSecond: 100_000, maxConnectionsPerUser: 4 },
  logger,
});
process.stdout.write(`GROUP_BENCH_READY ${JSON.stringify({ apiUrl: cluster.apiUrl, pid: process.pid })}\n`);

const stop = () => {
  cluster.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ err }, 'group bench server stop failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
