/**
 * Readers of the `SWB_*` variables that k6 passes in `__ENV` (`k6 run -e NAME=value` or the
 * process environment). An invalid value throws at init time with the variable's name, so a
 * run with a typo stops before it sends anything.
 */

/** Returns the string value of `name`, or `fallback` when it is unset or empty. */
export function readString(name: string, fallback: string): string {
  const value = __ENV[name];
  return value === undefined || value === '' ? fallback : value;
}

/** Returns the value of `name`, which must be set. */
export function readRequired(name: string, hint: string): string {
  const value = __ENV[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set; ${hint}`);
  }
  return value;
}

/** Returns a number in [min, max] from `name`, or `fallback` when it is unset. */
export function readNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${name} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** Returns an integer in [min, max] from `name`, or `fallback` when it is unset. */
export function readInteger(name: string, fallback: number, min: number, max: number): number {
  const value = readNumber(name, fallback, min, max);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${__ENV[name]}"`);
  return value;
}

/** Returns true when `name` is `1` or `true`. */
export function readFlag(name: string): boolean {
  const value = __ENV[name];
  return value === '1' || value === 'true';
}

/** Reads the API origin from SWB_API_URL, without a trailing slash. */
export function readApiUrl(): string {
  const url = readRequired(
    'SWB_API_URL',
    'set it to the API and router origin, e.g. https://chat.example.com',
  );
  if (!/^https?:\/\/\S+$/.test(url)) {
    throw new Error(`SWB_API_URL must be an http:// or https:// origin, got "${url}"`);
  }
  return url.replace(/\/+$/, '');
}
