import { describe, expect, it } from 'vitest';
import type { PushJob } from '@switchboard/core';
import { buildMessage } from '@switchboard/core/testing';
import { LOG_RECORD_CODEC, PUSH_JOB_CODEC } from './record-codec.ts';

const JOB: PushJob = {
  id: 'd.alice.bob:3:bob',
  user: 'bob',
  conv: 'd.alice.bob',
  seq: 3,
  from: 'alice',
  kind: 'message',
  body: 'hi',
  ts: 1_000,
  attempts: 0,
};

describe('PUSH_JOB_CODEC', () => {
  it('keys a job by its recipient', () => {
    expect(PUSH_JOB_CODEC.encode(JOB).key).toBe('bob');
  });

  it('decodes what it encodes', () => {
    const encoded = PUSH_JOB_CODEC.encode(JOB);
    expect(PUSH_JOB_CODEC.decode(Buffer.from(encoded.value))).toEqual(JOB);
  });

  it.each([
    ['no value', null],
    ['a message record', Buffer.from(LOG_RECORD_CODEC.encode(buildMessage('d.alice.bob', 1, 'alice')).value)],
    ['a job of an unknown kind', Buffer.from(JSON.stringify({ ...JOB, kind: 'sms' }))],
    ['a job without attempts', Buffer.from(JSON.stringify({ ...JOB, attempts: undefined }))],
  ])('rejects %s', (_name, value) => {
    expect(() => PUSH_JOB_CODEC.decode(value)).toThrow();
  });
});
