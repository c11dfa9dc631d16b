import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '@switchboard/protocol';
import type { StoredMessage } from '@switchboard/core';
import type { AuthSession } from './auth-routes.ts';
import { encodeCursor } from './cursor.ts';
import {
  applyMessage,
  errorOf,
  injectAs,
  createTestUser,
  startTestApi,
  type TestApi,
} from './test-support.ts';

interface HistoryPage {
  messages: StoredMessage[];
  nextCursor: string | null;
}

function range(from: number, to: number, step = 1): number[] {
  const values: number[] = [];
  for (let value = from; step > 0 ? value <= to : value >= to; value += step) values.push(value);
  return values;
}

describe('GET /v1/conversations/:conv/messages', () => {
  let api: TestApi;
  let alice: AuthSession;
  let bob: AuthSession;
  let carol: AuthSession;
  let conv: string;
  let members: string[];

  beforeEach(async () => {
    api = await startTestApi({ historyPageMax: 30 });
    alice = await createTestUser(api, 'alice');
    bob = await createTestUser(api, 'bob');
    carol = await createTestUser(api, 'carol');
    const opened = await injectAs(api.app, alice.accessToken, {
      method: 'POST',
      url: '/v1/conversations/direct',
      payload: { userId: bob.user.id },
    });
    conv = opened.json<{ id: string }>().id;
    members = [alice.user.id, bob.user.id];
  });

  afterEach(async () => {
    await api.close();
  });

  async function sendMessages(count: number): Promise<void> {
    for (let index = 0; index < count; index += 1) {
      const from = index % 2 === 0 ? alice.user.id : bob.user.id;
      await applyMessage(api, conv, from, `message ${index}`, members);
    }
  }

  function requestPage(query: string, session = alice, target = conv) {
    return injectAs(api.app, session.accessToken, {
      method: 'GET',
      url: `/v1/conversations/${target}/messages${query}`,
    });
  }

  async function readPage(query: string): Promise<HistoryPage> {
    const response = await requestPage(query);
    expect(response.statusCode, response.body).toBe(200);
    return response.json<HistoryPage>();
  }

  function seqsOf(page: HistoryPage): number[] {
    return page.messages.map((message) => message.seq);
  }

  it('returns an empty page when empty', async () => {
    expect(await readPage('')).toEqual({ messages: [], nextCursor: null });
    expect(await readPage('?direction=newer')).toEqual({ messages: [], nextCursor: null });
  });

  it('returns stored messages with every field', async () => {
    const record = await applyMessage(api, conv, bob.user.id, 'hello', members);

    const page = await readPage('');

    expect(page.messages).toEqual([
      { conv, seq: record.seq, from: bob.user.id, id: record.id, body: 'hello', ts: record.ts },
    ]);
  });

  it('pages newest first by default', async () => {
    await sendMessages(45);

    const first = await readPage('');
    const second = await readPage(`?cursor=${first.nextCursor}`);
    const third = await readPage(`?cursor=${second.nextCursor}`);

    expect(seqsOf(first)).toEqual(range(45, 26, -1));
    expect(seqsOf(second)).toEqual(range(25, 6, -1));
    expect(seqsOf(third)).toEqual(range(5, 1, -1));
    expect(first.nextCursor).toBeTypeOf('string');
    expect(second.nextCursor).toBeTypeOf('string');
    expect(third.nextCursor).toBeNull();
  });

  it('pages oldest first with newer', async () => {
    await sendMessages(45);

    const first = await readPage('?direction=newer&limit=20');
    const second = await readPage(`?cursor=${first.nextCursor}&limit=20`);
    const third = await readPage(`?cursor=${second.nextCursor}&limit=20&direction=newer`);

    expect(seqsOf(first)).toEqual(range(1, 20));
    expect(seqsOf(second)).toEqual(range(21, 40));
    expect(seqsOf(third)).toEqual(range(41, 45));
    expect(third.nextCursor).toBeNull();
  });

  it('older paging ignores new arrivals', async () => {
    await sendMessages(45);

    const first = await readPage('?limit=20');
    await sendMessages(7);
    const second = await readPage(`?cursor=${first.nextCursor}&limit=20`);
    await sendMessages(3);
    const third = await readPage(`?cursor=${second.nextCursor}&limit=20`);

    expect(seqsOf(first)).toEqual(range(45, 26, -1));
    expect(seqsOf(second)).toEqual(range(25, 6, -1));
    expect(seqsOf(third)).toEqual(range(5, 1, -1));
    expect(third.nextCursor).toBeNull();
    const seen = [...seqsOf(first), ...seqsOf(second), ...seqsOf(third)];
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('newer paging includes new arrivals once', async () => {
    await sendMessages(45);

    const first = await readPage('?direction=newer&limit=20');
    await sendMessages(5);
    const second = await readPage(`?cursor=${first.nextCursor}&limit=20`);
    const third = await readPage(`?cursor=${second.nextCursor}&limit=20`);

    expect(seqsOf(first)).toEqual(range(1, 20));
    expect(seqsOf(second)).toEqual(range(21, 40));
    expect(seqsOf(third)).toEqual(range(41, 50));
    expect(third.nextCursor).toBeNull();
  });

  it('ends a full last page', async () => {
    await sendMessages(40);

    const first = await readPage('?limit=20');
    const second = await readPage(`?cursor=${first.nextCursor}&limit=20`);

    expect(seqsOf(second)).toEqual(range(20, 1, -1));
    expect(second.nextCursor).toBeNull();
  });

  it('pages across sequence gaps', async () => {
    await sendMessages(3);
    // A number taken but never written, as after a failed log append.
    await api.sequencer.reserve({ sender: alice.user.id, clientId: 'lost', conv, targets: members, now: 0 });
    await sendMessages(3);

    const first = await readPage('?direction=newer&limit=3');
    const second = await readPage(`?cursor=${first.nextCursor}&limit=3`);

    expect(seqsOf(first)).toEqual([1, 2, 3]);
    expect(seqsOf(second)).toEqual([5, 6, 7]);
    expect(second.nextCursor).toBeNull();
  });

  it('accepts a limit up to the configured maximum', async () => {
    await sendMessages(31);

    const page = await readPage('?limit=30');

    expect(page.messages).toHaveLength(30);
    expect(page.nextCursor).toBeTypeOf('string');
  });

  it('lets bob read the same history as alice', async () => {
    await sendMessages(5);

    const response = await requestPage('', bob);

    expect(response.statusCode).toBe(200);
    expect(seqsOf(response.json<HistoryPage>())).toEqual([5, 4, 3, 2, 1]);
  });

  it('answers 404 to a user outside the conversation', async () => {
    await sendMessages(2);

    const response = await requestPage('', carol);

    expect(response.statusCode).toBe(404);
    expect(errorOf(response).code).toBe(ErrorCode.ConversationNotFound);
    expect(response.body).not.toContain('message 0');
  });

  it('returns 404 for an unknown conversation', async () => {
    const unknownDirect = `d.${alice.user.id}.${carol.user.id}`;

    const direct = await requestPage('', alice, unknownDirect);
    const group = await requestPage('', alice, 'g.nothing-here');

    expect(direct.statusCode).toBe(404);
    expect(errorOf(direct).code).toBe(ErrorCode.ConversationNotFound);
    expect(group.statusCode).toBe(404);
    expect(errorOf(group).code).toBe(ErrorCode.ConversationNotFound);
  });

  it('rejects a cursor of another conversation', async () => {
    await sendMessages(2);
    const foreign = encodeCursor({ conv: 'g.elsewhere', seq: 2, direction: 'older' });

    const response = await requestPage(`?cursor=${foreign}`);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.CursorInvalid);
  });

  it('rejects a direction that contradicts the cursor', async () => {
    await sendMessages(3);
    const first = await readPage('?limit=1');

    const response = await requestPage(`?cursor=${first.nextCursor}&limit=1&direction=newer`);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.CursorInvalid);
  });

  it.each([
    ['text that is not base64url', '?cursor=%2B%2F%3D'],
    ['base64url that is not JSON', `?cursor=${Buffer.from('seq 5').toString('base64url')}`],
    ['JSON of the wrong shape', `?cursor=${Buffer.from('{"s":5}').toString('base64url')}`],
  ])('rejects a cursor of %s', async (_case, query) => {
    const response = await requestPage(query);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.CursorInvalid);
  });

  it.each([
    ['limit 0', '?limit=0'],
    ['a limit over the maximum', '?limit=31'],
    ['a negative limit', '?limit=-5'],
    ['a fractional limit', '?limit=1.5'],
    ['a text limit', '?limit=all'],
    ['an unknown direction', '?direction=sideways'],
    ['an empty cursor', '?cursor='],
    ['a cursor over 512 characters', `?cursor=${'A'.repeat(513)}`],
    ['an unknown parameter', '?before=10'],
  ])('rejects %s with 400', async (_case, query) => {
    const response = await requestPage(query);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
  });

  it.each([
    ['an unknown kind', 'x.abc'],
    ['a direct id with one member', 'd.u_alice'],
    ['a member id with a space', 'd.u_a%20b.u_c'],
    ['a group id of 65 characters', `g.${'a'.repeat(65)}`],
  ])('rejects a conversation id of %s with 400', async (_case, target) => {
    const response = await requestPage('', alice, target);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
  });
});
