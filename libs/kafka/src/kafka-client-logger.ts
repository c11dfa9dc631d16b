import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from '@switchboard/core';

// kafkajs 2.2.4 logs this whenever an idempotent producer has a finite retry count. The
// adapter bounds retries so that an append fails instead of hanging, and it replaces the
// producer, with a new producer id, after every failed send, which keeps the guarantee.
const IGNORED_MESSAGES = new Set([
  'Limiting retries for the idempotent producer may invalidate EoS guarantees',
]);

/**
 * Returns the kafkajs log level that matches `logger`: WARN, or NOTHING when warnings are off.
 *
 * kafkajs logs every group join and connection at INFO, which is too much for production logs.
 */
export function kafkaLogLevel(logger: Logger): logLevel {
  return logger.isLevelEnabled('warn') ? logLevel.WARN : logLevel.NOTHING;
}

/**
 * Builds a kafkajs logCreator that writes into `logger` under `component: "kafkajs"`.
 *
 * kafkajs ERROR entries become pino warnings. kafkajs logs a request that it retries, or a
 * consumer crash that it restarts, at ERROR, but the adapter rethrows or logs every failure that
 * needs a person, so those entries mean "degraded but handled".
 */
export function buildKafkaLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = log;
      if (IGNORED_MESSAGES.has(message)) return;

      const entry = { namespace, detail: message, ...fields };
      if (level === logLevel.ERROR || level === logLevel.WARN) {
        child.warn(entry, 'kafka client warning');
      } else if (level === logLevel.INFO) {
        child.info(entry, 'kafka client event');
      } else {
        child.debug(entry, 'kafka client event');
      }
    };
}
