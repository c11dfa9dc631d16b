import { ConfigError } from './errors.ts';

export type Env = Record<string, string | undefined>;

/** Reads an integer variable, or `fallback` when it is unset, and checks its range. */
export function readInt(
  env: Env,
  name: string,
  fallback: number,
  range: { min?: number; max?: number } = {},
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const value = Number(raw);
  if (range.min !== undefined && value < range.min)
    throw new ConfigError(name, `must be >= ${range.min}, got ${value}`);
  if (range.max !== undefined && value > range.max)
    throw new ConfigError(name, `must be <= ${range.max}, got ${value}`);
  return value;
}

/** Reads a string variable, or `fallback` when it is unset, and checks it against `pattern`. */
export function readString(
  env: Env,
  name: string,
  fallback: string,
  pattern?: RegExp,
  expected?: string,
): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (pattern && !pattern.test(raw)) {
    throw new ConfigError(name, `expected ${expected ?? pattern.source}, got "${raw}"`);
  }
  return raw;
}

/** Reads a TCP port variable (0 picks a free port). */
export function readPort(env: Env, name: string, fallback: number): number {
  return readInt(env, name, fallback, { min: 0, max: 65535 });
}

/** Reads a TCP port variable that may be left unset, which returns null. */
export function readOptionalPort(env: Env, name: string): number | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  return readPort(env, name, 0);
}

/** Reads a host variable and rejects anything but a loopback, wildcard or plain host name. */
export function readHost(env: Env, name: string, fallback: string): string {
  return readString(env, name, fallback, /^[A-Za-z0-9.:-]+$/, 'a host name or IP address');
}

/** Reads one of a fixed set of words. */
export function readChoice<T extends string>(env: Env, name: string, fallback: T, choices: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}
