type LogEntry = Record<string, unknown>;

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const SKIPPED_FIELDS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** Formats a pino JSON line as `time name level message key=value ...` for people. */
export function formatLogLine(name: string, line: string): string {
  let entry: LogEntry;
  try {
    entry = JSON.parse(line) as LogEntry;
  } catch {
    return `${name.padEnd(12)} ${line}`;
  }
  const time = new Date(Number(entry.time ?? Date.now())).toISOString().slice(11, 23);
  const level = (LEVELS[Number(entry.level)] ?? 'info').padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !SKIPPED_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${time} ${name.padEnd(12)} ${level} ${String(entry.msg ?? '')}${fields ? ` ${fields}` : ''}`;
}
