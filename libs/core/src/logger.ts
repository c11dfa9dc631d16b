import { pino, type Logger, type LoggerOptions } from 'pino';
import { ConfigError } from './errors.ts';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export type { Logger };

/** Paths that never reach a log line: credentials and message bodies. */
export const REDACTED_PATHS = [
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'body',
  'frame.body',
  'req.headers.authorization',
  'req.query.access_token',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
];

/**
 * Creates the JSON logger of a service, bound to its name.
 *
 * The level comes from `SWB_LOG_LEVEL` (default `info`; `silent` in tests).
 */
export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.SWB_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError('SWB_LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  return pino({
    ...options,
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}
