import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { ConfigError } from './errors.ts';
import { formatLogLine } from './log-format.ts';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
/** Values of SWB_LOG_FORMAT: JSON lines, or one readable line per entry for development. */
const LOG_FORMATS = ['json', 'pretty'];

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
  '*.body',
  'secret',
  '*.secret',
  'tokenSecret',
  'authorization',
  '*.authorization',
  'req.headers.cookie',
  'headers.cookie',
];

/**
 * Creates the JSON logger of a service, bound to its name.
 *
 * The level comes from `SWB_LOG_LEVEL` (default `info`; `silent` in tests). `SWB_LOG_FORMAT`
 * picks JSON lines (`json`, the default) or one readable line per entry (`pretty`).
 * `destination` replaces standard output, for tests that read the lines back.
 */
export function createLogger(
  service: string,
  options: LoggerOptions = {},
  destination?: DestinationStream,
): Logger {
  // An empty variable counts as unset, as for every other SWB_ variable.
  const level = options.level ?? (process.env.SWB_LOG_LEVEL || (process.env.VITEST ? 'silent' : 'info'));
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError('SWB_LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  const format = process.env.SWB_LOG_FORMAT || 'json';
  if (!LOG_FORMATS.includes(format)) {
    throw new ConfigError('SWB_LOG_FORMAT', `expected one of ${LOG_FORMATS.join(', ')}, got "${format}"`);
  }
  const pinoOptions: LoggerOptions = {
    ...options,
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (format === 'pretty') {
    const target = destination ?? process.stdout;
    // Formats after pino has serialized and redacted the entry, so nothing redacted shows.
    return pino(pinoOptions, { write: (line: string) => target.write(formatLogLine(service, line) + '\n') });
  }
  return destination === undefined ? pino(pinoOptions) : pino(pinoOptions, destination);
}
