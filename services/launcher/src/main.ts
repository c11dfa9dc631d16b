import { ConfigError, createLogger, readHost, readInt, readPort, readString } from '@switchboard/core';
import { readConnectionPolicy } from '@switchboard/chat-node';
import { startEmbeddedCluster } from './embedded-cluster.ts';

async function main(): Promise<void> {
  const env = process.env;
  const logger = createLogger('switchboard');
  const cluster = await startEmbeddedCluster({
    dataDir: readString(env, 'SWB_DATA_DIR', '.data/embedded'),
    host: readHost(env, 'SWB_HOST', '127.0.0.1'),
    httpPort: readPort(env, 'SWB_HTTP_PORT', 8080),
    chatNodes: readInt(env, 'SWB_CHAT_NODES', 2, { min: 1, max: 16 }),
    chatPortBase: readPort(env, 'SWB_CHAT_PORT_BASE', 9001),
    ...(env.SWB_TOKEN_SECRET ? { tokenSecret: env.SWB_TOKEN_SECRET } : {}),
    accessTtlSeconds: readInt(env, 'SWB_ACCESS_TTL_SECONDS', 900, { min: 10 }),
    refreshTtlSeconds: readInt(env, 'SWB_REFRESH_TTL_SECONDS', 30 * 24 * 3600, { min: 60 }),
    policy: readConnectionPolicy(env),
    logger,
  });

  const lines = [
    '',
    'Switchboard is running (embedded profile).',
    `  API and router:  ${cluster.apiUrl}`,
    `  API reference:   ${cluster.apiUrl}/docs`,
    ...cluster.nodes.map((node) => `  chat node ${node.id}: ${node.url}`),
    '',
    'Chat from two terminals (drop --register once the user exists):',
    `  npm run chat -- --api ${cluster.apiUrl} --user alice --password alice-secret --register`,
    `  npm run chat -- --api ${cluster.apiUrl} --user bob --password bob-secret --register --to alice`,
    '',
    'Press Ctrl+C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n'));

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    cluster.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`switchboard: invalid configuration: ${err.message}\n`);
  } else {
    process.stderr.write(
      `switchboard: start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  }
  process.exit(1);
});
