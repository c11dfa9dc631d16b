import { describe, expect, it } from 'vitest';
import { ErrorCode } from './codes.ts';
import {
  decodeClientFrame,
  decodeServerFrame,
  DEFAULT_DECODE_LIMITS,
  DEFAULT_PRESENCE_SUBSCRIBE_MAX,
} from './decode.ts';
import { buildDirectConversationId, directMembers, isConversationId } from './ids.ts';

function expectError(text: string, code: string) {
  const result = decodeClientFrame(text);
  expect(result.ok, `expected ${code} for ${text.slice(0, 80)}`).toBe(false);
  if (!result.ok) expect(result.code).toBe(code);
}

describe('decodeClientFrame', () => {
  it.each([
    ['send to a user', { type: 'send', id: 'm1', to: 'bob', body: 'hi' }],
    ['send to a conversation', { type: 'send', id: 'm-2_x', conv: 'd.alice.bob', body: 'hi' }],
    ['delivered receipt', { type: 'receipt', conv: 'd.alice.bob', kind: 'delivered', seq: 3 }],
    ['read receipt', { type: 'receipt', conv: 'g.team', kind: 'read', seq: 1 }],
    ['sync without limit', { type: 'sync', after: 0 }],
    ['sync with limit', { type: 'sync', after: 10, limit: 50 }],
    ['sync with id', { type: 'sync', id: 's1', after: 10, limit: 50 }],
    ['fetch', { type: 'fetch', conv: 'd.alice.bob', from: 2, to: 5 }],
    ['fetch with id', { type: 'fetch', id: 'g1', conv: 'd.alice.bob', from: 2, to: 5 }],
    ['ping', { type: 'ping' }],
    ['ping with id', { type: 'ping', id: 'p1' }],
    ['presence subscribe', { type: 'presence.subscribe', users: ['alice', 'bob'] }],
    ['presence subscribe to nobody', { type: 'presence.subscribe', users: [] }],
    ['typing start', { type: 'typing', conv: 'g.team', state: 'start' }],
    ['typing stop', { type: 'typing', conv: 'd.alice.bob', state: 'stop' }],
    ['activity foreground', { type: 'activity', state: 'foreground' }],
    ['activity background', { type: 'activity', state: 'background' }],
  ])('accepts %s', (_name, frame) => {
    const result = decodeClientFrame(JSON.stringify(frame));
    expect(result).toEqual({ ok: true, frame });
  });

  it.each([
    ['not JSON', '{"type":', ErrorCode.FrameMalformed],
    ['a JSON array', '[1,2]', ErrorCode.FrameMalformed],
    ['a JSON string', '"send"', ErrorCode.FrameMalformed],
    ['null', 'null', ErrorCode.FrameMalformed],
    ['no type', '{"id":"x"}', ErrorCode.FrameUnknownType],
    ['unknown type', '{"type":"explode"}', ErrorCode.FrameUnknownType],
    ['numeric type', '{"type":7}', ErrorCode.FrameUnknownType],
    ['send without id', '{"type":"send","to":"bob","body":"x"}', ErrorCode.FrameInvalidField],
    ['send with numeric id', '{"type":"send","id":5,"to":"bob","body":"x"}', ErrorCode.FrameInvalidField],
    [
      'send with long id',
      `{"type":"send","id":"${'a'.repeat(65)}","to":"bob","body":"x"}`,
      ErrorCode.FrameInvalidField,
    ],
    [
      'send with both to and conv',
      '{"type":"send","id":"a","to":"bob","conv":"d.a.bob","body":"x"}',
      ErrorCode.FrameInvalidField,
    ],
    ['send with neither to nor conv', '{"type":"send","id":"a","body":"x"}', ErrorCode.FrameInvalidField],
    ['send to a bad user id', '{"type":"send","id":"a","to":"bo b","body":"x"}', ErrorCode.FrameInvalidField],
    [
      'send to a bad conversation',
      '{"type":"send","id":"a","conv":"x.y","body":"x"}',
      ErrorCode.FrameInvalidField,
    ],
    ['send with a numeric body', '{"type":"send","id":"a","to":"bob","body":5}', ErrorCode.FrameInvalidField],
    ['send with an empty body', '{"type":"send","id":"a","to":"bob","body":""}', ErrorCode.BodyEmpty],
    ['send with a blank body', '{"type":"send","id":"a","to":"bob","body":"  \\n "}', ErrorCode.BodyEmpty],
    [
      'send with a lone surrogate',
      '{"type":"send","id":"a","to":"bob","body":"\\ud800"}',
      ErrorCode.FrameInvalidUtf8,
    ],
    [
      'send with an extra field',
      '{"type":"send","id":"a","to":"bob","body":"x","from":"eve"}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'receipt with a bad kind',
      '{"type":"receipt","conv":"d.a.b","kind":"seen","seq":1}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'receipt with seq 0',
      '{"type":"receipt","conv":"d.a.b","kind":"read","seq":0}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'receipt with a fractional seq',
      '{"type":"receipt","conv":"d.a.b","kind":"read","seq":1.5}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'receipt with a string seq',
      '{"type":"receipt","conv":"d.a.b","kind":"read","seq":"1"}',
      ErrorCode.FrameInvalidField,
    ],
    ['sync with a negative position', '{"type":"sync","after":-1}', ErrorCode.FrameInvalidField],
    ['sync with an unsafe position', '{"type":"sync","after":9007199254740993}', ErrorCode.FrameInvalidField],
    ['sync with limit 0', '{"type":"sync","after":0,"limit":0}', ErrorCode.FrameInvalidField],
    ['sync with a huge limit', '{"type":"sync","after":0,"limit":100000}', ErrorCode.FrameInvalidField],
    [
      'fetch with from above to',
      '{"type":"fetch","conv":"d.a.b","from":5,"to":4}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'fetch over the range limit',
      '{"type":"fetch","conv":"d.a.b","from":1,"to":1000}',
      ErrorCode.FrameInvalidField,
    ],
    ['ping with an object id', '{"type":"ping","id":{}}', ErrorCode.FrameInvalidField],
    ['sync with a bad id', '{"type":"sync","id":"s 1","after":0}', ErrorCode.FrameInvalidField],
    [
      'fetch with a numeric id',
      '{"type":"fetch","id":7,"conv":"d.a.b","from":1,"to":2}',
      ErrorCode.FrameInvalidField,
    ],
    ['presence subscribe without users', '{"type":"presence.subscribe"}', ErrorCode.FrameInvalidField],
    [
      'presence subscribe with a string',
      '{"type":"presence.subscribe","users":"alice"}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'presence subscribe with a bad user id',
      '{"type":"presence.subscribe","users":["al ice"]}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'presence subscribe with a numeric user',
      '{"type":"presence.subscribe","users":[7]}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'presence subscribe naming a user twice',
      '{"type":"presence.subscribe","users":["bob","bob"]}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'presence subscribe with an extra field',
      '{"type":"presence.subscribe","users":[],"all":true}',
      ErrorCode.FrameInvalidField,
    ],
    ['typing without state', '{"type":"typing","conv":"g.team"}', ErrorCode.FrameInvalidField],
    [
      'typing with a bad state',
      '{"type":"typing","conv":"g.team","state":"paused"}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'typing to a bad conversation',
      '{"type":"typing","conv":"team","state":"start"}',
      ErrorCode.FrameInvalidField,
    ],
    [
      'typing with an extra field',
      '{"type":"typing","conv":"g.team","state":"start","user":"eve"}',
      ErrorCode.FrameInvalidField,
    ],
    ['activity without state', '{"type":"activity"}', ErrorCode.FrameInvalidField],
    ['activity with a bad state', '{"type":"activity","state":"away"}', ErrorCode.FrameInvalidField],
    [
      'activity with a state in capitals',
      '{"type":"activity","state":"Background"}',
      ErrorCode.FrameInvalidField,
    ],
    ['activity with a boolean state', '{"type":"activity","state":true}', ErrorCode.FrameInvalidField],
    [
      'activity with an extra field',
      '{"type":"activity","state":"background","user":"eve"}',
      ErrorCode.FrameInvalidField,
    ],
  ])('rejects %s', (_name, text, code) => {
    expectError(text, code);
  });

  it('rejects a body one byte over the limit', () => {
    const body = 'é'.repeat(DEFAULT_DECODE_LIMITS.maxBodyBytes / 2) + 'x';
    expectError(JSON.stringify({ type: 'send', id: 'a', to: 'bob', body }), ErrorCode.BodyTooLarge);
  });

  it('accepts a body exactly at the limit', () => {
    const body = 'é'.repeat(DEFAULT_DECODE_LIMITS.maxBodyBytes / 2);
    const result = decodeClientFrame(JSON.stringify({ type: 'send', id: 'a', to: 'bob', body }));
    expect(result.ok).toBe(true);
  });

  it('rejects a presence subscribe over the limit', () => {
    const users = Array.from({ length: DEFAULT_PRESENCE_SUBSCRIBE_MAX + 1 }, (_, index) => `u${index}`);
    expectError(JSON.stringify({ type: 'presence.subscribe', users }), ErrorCode.FrameInvalidField);
  });

  it('accepts a presence subscribe at the limit', () => {
    const users = Array.from({ length: DEFAULT_PRESENCE_SUBSCRIBE_MAX }, (_, index) => `u${index}`);
    const result = decodeClientFrame(JSON.stringify({ type: 'presence.subscribe', users }));
    expect(result.ok).toBe(true);
  });

  it('applies a lower presence subscribe limit', () => {
    const limits = { ...DEFAULT_DECODE_LIMITS, presenceSubscribeMax: 2 };
    const result = decodeClientFrame('{"type":"presence.subscribe","users":["a","b","c"]}', limits);
    expect(result).toMatchObject({ ok: false, code: ErrorCode.FrameInvalidField });
  });

  it('carries the frame id as ref on errors', () => {
    const result = decodeClientFrame('{"type":"send","id":"m9","to":"bob","body":""}');
    expect(result).toMatchObject({ ok: false, ref: 'm9' });
  });

  it('carries a read id as ref on errors', () => {
    expect(decodeClientFrame('{"type":"sync","id":"s2","after":-1}')).toMatchObject({ ok: false, ref: 's2' });
    expect(decodeClientFrame('{"type":"sync","id":"s3","after":0,"x":1}')).toMatchObject({
      ok: false,
      ref: 's3',
    });
    expect(
      decodeClientFrame('{"type":"fetch","id":"g3","conv":"d.a.b","from":1,"to":1,"x":1}'),
    ).toMatchObject({
      ok: false,
      ref: 'g3',
    });
    expect(decodeClientFrame('{"type":"fetch","id":"g2","conv":"d.a.b","from":5,"to":4}')).toMatchObject({
      ok: false,
      ref: 'g2',
    });
  });
});

describe('decodeServerFrame', () => {
  it('accepts a known frame type', () => {
    const result = decodeServerFrame('{"type":"ack","id":"a","conv":"d.a.b","seq":1,"ts":1}');
    expect(result.ok).toBe(true);
  });

  it.each([
    ['notice', '{"type":"notice","conv":"g.team","seq":9}'],
    ['presence', '{"type":"presence","users":[{"user":"bob","online":true}]}'],
    ['typing', '{"type":"typing","conv":"g.team","user":"bob","state":"start","expiresIn":6000}'],
  ])('accepts a %s frame', (_name, text) => {
    expect(decodeServerFrame(text).ok).toBe(true);
  });

  it('rejects an unknown frame type', () => {
    const result = decodeServerFrame('{"type":"surprise"}');
    expect(result).toMatchObject({ ok: false, code: ErrorCode.FrameUnknownType });
  });
});

describe('conversation ids', () => {
  it('orders direct members so both sides agree', () => {
    expect(buildDirectConversationId('bob', 'alice')).toBe('d.alice.bob');
    expect(buildDirectConversationId('alice', 'bob')).toBe('d.alice.bob');
  });

  it('splits a direct id into its members', () => {
    expect(directMembers('d.alice.bob')).toEqual(['alice', 'bob']);
    expect(directMembers('g.team')).toBeNull();
  });

  it.each(['d.a', 'd.a.b.c', 'x.a', 'g.', 'g.a b', ''])('rejects malformed id %j', (id) => {
    expect(isConversationId(id)).toBe(false);
  });
});
