import { ConfigError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';

/** Stops what a service started; called once on SIGTERM or SIGINT. */
export type StopService = () => Promise<void>;

/**
 * Runs a service process: starts it, stops it on SIGTERM or SIGINT, and exits.
 *
 * A ConfigError prints one line naming the variable and exits with 78 (EX_CONFIG), so a
 * bad deployment fails at start instead of at first use. Any other start failure is logged
 * and exits with 1.
 */
export function runService(name: string, start: (logger: Logger) => Promise<StopService>): void {
  let logger: Logger;
  try {
    logger = createLogger(name);
  } catch (err) {
    exitOnStartError(name, err, null);
    return;
  }
  let stop: StopService | null = null;
  let stopping = false;

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'service stopping');
    (stop ?? (() => Promise.resolve()))().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'service stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  start(logger).then(
    (stopFn) => {
      stop = stopFn;
      logger.info('service ready');
    },
    (err: unknown) => exitOnStartError(name, err, logger),
  );
}

function exitOnStartError(name: string, err: unknown, logger: Logger | null): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${name}: invalid configuration: ${err.message}\n`);
    process.exit(78);
  }
  if (logger) logger.error({ err }, 'service failed to start');
  else process.stderr.write(`${name}: failed to start: ${String(err)}\n`);
  process.exit(1);
}
