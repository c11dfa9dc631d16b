import { ConfigError } from './errors.ts';
import type { Logger } from './logger.ts';

/** Stops what a service started; called once on SIGTERM or SIGINT. */
export type StopService = () => Promise<void>;

/**
 * Runs a service process: starts it, stops it on SIGTERM or SIGINT, and exits.
 *
 * A ConfigError prints one line naming the variable and exits with 78 (EX_CONFIG), so a
 * bad deployment fails at start instead of at first use. Any other start failure is logged
 * and exits with 1.
 */
export function runService(name: string, logger: Logger, start: () => Promise<StopService>): void {
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

  start().then(
    (stopFn) => {
      stop = stopFn;
      logger.info('service ready');
    },
    (err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(`${name}: invalid configuration: ${err.message}\n`);
        process.exit(78);
      }
      logger.error({ err }, 'service failed to start');
      process.exit(1);
    },
  );
}
