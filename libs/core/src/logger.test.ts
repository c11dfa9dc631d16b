import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { formatLogLine } from './log-format.ts';
import { createLogger } from './logger.ts';
import { generateRequestId } from './request-id.ts';

/** Collects what a logger writes, one entry per line. */
function captureLines(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((line) => line !== ''),
      );
      done();
    },
  });
  return { stream, lines };
}

const SECRETS = {
  password: 'hunter2-password',
  token: 'eyJ-token',
  accessToken: 'eyJ-access',
  refreshToken: 'rt-refresh',
  body: 'the message body',
  secret: 'token-secret',
};

const savedFormat = process.env.SWB_LOG_FORMAT;
afterEach(() => {
  if (savedFormat === undefined) delete process.env.SWB_LOG_FORMAT;
  else process.env.SWB_LOG_FORMAT = savedFormat;
});

describe('createLogger', () => {
  it('redacts credentials and message bodies', () => {
    const { stream, lines } = captureLines();
    const logger = createLogger('test', { level: 'info' }, stream);
    logger.info(
      {
        ...SECRETS,
        frame: { type: 'send', body: 'nested body' },
        record: { conv: 'd.a.b', body: 'record body', token: 'nested token' },
        user: { password: 'nested password', accessToken: 'nested access' },
        req: { headers: { authorization: 'Bearer abc', cookie: 'sid=1' }, query: { access_token: 'q' } },
        headers: { authorization: 'Bearer def' },
        connId: 'c1',
        reqId: 'r1',
      },
      'login attempt',
    );

    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const secret of [
      ...Object.values(SECRETS),
      'nested body',
      'record body',
      'nested token',
      'nested password',
      'nested access',
      'Bearer abc',
      'sid=1',
      'Bearer def',
    ]) {
      expect(line, `"${secret}" reached the log line`).not.toContain(secret);
    }
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry.password).toBe('[redacted]');
    expect(entry.body).toBe('[redacted]');
    expect((entry.record as Record<string, unknown>).conv).toBe('d.a.b');
    expect(entry.connId).toBe('c1');
    expect(entry.reqId).toBe('r1');
    expect(entry.service).toBe('test');
    expect(entry.msg).toBe('login attempt');
  });

  it('writes readable lines with SWB_LOG_FORMAT=pretty, still redacted', () => {
    process.env.SWB_LOG_FORMAT = 'pretty';
    const { stream, lines } = captureLines();
    const logger = createLogger('router', { level: 'info' }, stream);
    logger.info({ password: 'hunter2-password', node: 'node-1' }, 'ring changed');

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} router +info +ring changed /);
    expect(lines[0]).toContain('node=node-1');
    expect(lines[0]).toContain('password=[redacted]');
    expect(lines[0]).not.toContain('hunter2');
  });

  it('rejects an unknown SWB_LOG_FORMAT', () => {
    process.env.SWB_LOG_FORMAT = 'xml';
    expect(() => createLogger('test', { level: 'info' })).toThrow(ConfigError);
    expect(() => createLogger('test', { level: 'info' })).toThrow(
      'SWB_LOG_FORMAT: expected one of json, pretty, got "xml"',
    );
  });

  it('rejects an unknown level', () => {
    expect(() => createLogger('test', { level: 'loud' })).toThrow('SWB_LOG_LEVEL: expected one of');
  });
});

describe('formatLogLine', () => {
  it('keeps a line that is not JSON as it is', () => {
    expect(formatLogLine('api', 'Warning: something')).toBe('api          Warning: something');
  });
});

describe('generateRequestId', () => {
  it('keeps a caller id that is a short token', () => {
    expect(generateRequestId({ headers: { 'x-request-id': 'abc-123' } })).toBe('abc-123');
  });

  it.each([['a b'], ['x'.repeat(65)], ['line\nbreak']])('replaces the caller id %j', (given) => {
    const id = generateRequestId({ headers: { 'x-request-id': given } });
    expect(id).not.toBe(given);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
  });

  it('gives each request a new id', () => {
    const first = generateRequestId({ headers: {} });
    const second = generateRequestId({ headers: {} });
    expect(first).not.toBe(second);
  });
});
