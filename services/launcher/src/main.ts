import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ConfigError, createLogger, type Logger } from '@switchboard/core';
import { readPushRoutesConfig } from '@switchboard/api';
import { readProvidersConfig, readPushWorkerSettings } from '@switchboard/push-worker';
import { DEFAULT_WEB_DIST_DIR, ensureWebClientBuilt, registerWebClient } from '@switchboard/web';
import { readEmbeddedConfig } from './config.ts';
import { startEmbeddedCluster } from './embedded-cluster.ts';
import { withVapidKeys } from './vapid-keys.ts';

async function main(): Promise<void> {
  // Read first, so that a bad variable stops the process before the web client is built.
  const config = readEmbeddedConfig(process.env);
  // Checked before anything is written or built, so a second start fails at once.
  const chatPorts = Array.from({ length: config.chatNodes }, (_, index) => config.chatPortBase + index);
  for (const port of [config.httpPort, ...chatPorts]) {
    if (port !== 0 && (await isPortTaken(config.host, port))) throw new PortTakenError(config.host, port);
  }
  const env = withVapidKeys(process.env, config.dataDir);
  const push = readPushRoutesConfig(env);
  const pushWorker = {
    providers: readProvidersConfig(env),
    settings: readPushWorkerSettings(env),
  };
  const logger = createLogger('switchboard');
  const webDir = await prepareWebClient(logger);
  const { tokenSecret, ...settings } = config;
  const cluster = await startEmbeddedCluster({
    ...settings,
    ...(tokenSecret === null ? {} : { tokenSecret }),
    push,
    pushWorker,
    logger,
    ...(webDir === null ? {} : { configureHttp: (app) => registerWebClient(app, webDir) }),
  });

  const lines = [
    '',
    'Switchboard is running (embedded profile).',
    webDir === null
      ? '  Web client:      not available, its build failed (see the log above)'
      : `  Web client:      ${cluster.apiUrl}/`,
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

/**
 * Builds the web client when its build is missing or older than its sources, and returns the
 * directory to serve, or null when there is no usable build. A failed build does not stop the
 * API: the previous build is served if there is one.
 */
async function prepareWebClient(logger: Logger): Promise<string | null> {
  try {
    await ensureWebClientBuilt(DEFAULT_WEB_DIST_DIR, logger);
    return DEFAULT_WEB_DIST_DIR;
  } catch (err) {
    const hasPrevious = existsSync(join(DEFAULT_WEB_DIST_DIR, 'index.html'));
    logger.error(
      { err, distDir: DEFAULT_WEB_DIST_DIR },
      hasPrevious ? 'web client build failed; serving the previous build' : 'web client build failed',
    );
    return hasPrevious ? DEFAULT_WEB_DIST_DIR : null;
  }
}

/** Error for a port of the embedded profile that another process is listening on. */
class PortTakenError extends Error {
  constructor(host: string, port: number) {
    super(
      `port ${port} on ${host} is in use, perhaps by a Switchboard that is already running; ` +
        'stop it, or pick free ports with SWB_HTTP_PORT and SWB_CHAT_PORT_BASE',
    );
  }
}

/** Returns true when binding `host`:`port` fails because another socket is bound to it. */
function isPortTaken(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(true);
      else reject(err);
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}

main().catch((err: unknown) => {
  if (err instanceof PortTakenError) {
    process.stderr.write(`switchboard: ${err.message}\n`);
  } else if (err instanceof ConfigError) {
    process.stderr.write(`switchboard: invalid configuration: ${err.message}\n`);
    // Exits with 78 (EX_CONFIG), as runService does for the cluster profile's services.
    process.exit(78);
  } else {
    process.stderr.write(
      `switchboard: start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  }
  process.exit(1);
});
