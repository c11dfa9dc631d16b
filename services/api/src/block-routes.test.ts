import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildDirectConversationId, ErrorCode } from '@switchboard/protocol';
import type { ClusterEvent, MessageRecord, StoredMessage } from '@switchboard/core';
import { waitFor } from '@switchboard/core/testing';
import type { AuthSession } from './auth-routes.ts';
import { createTestUser, errorOf, injectAs, startTestApi, type TestApi } from './test-support.ts';

describe('block routes', () => {
  let api: TestApi;
  let alice: AuthSession;
  let bob: AuthSession;
  let events: ClusterEvent[];

  beforeEach(async () => {
    api = await startTestApi();
    alice = await createTestUser(api, 'alice');
    bob = await createTestUser(api, 'bob');
    events = [];
    await api.bus.subscribeEvents((event) => events.push(event));
  });

  afterEach(async () => {
    await api.close();
  });

  async function blocked(session: AuthSession): Promise<string[]> {
    const response = await injectAs(api.app, session.accessToken, { method: 'GET', url: '/v1/blocks' });
    expect(response.statusCode).toBe(200);
    return response.json<{ users: string[] }>().users;
  }

  it('blocks and unblocks a user', async () => {
    const block = await injectAs(api.app, alice.accessToken, {
      method: 'POST',
      url: '/v1/blocks',
      payload: { userId: bob.user.id },
    });
    const whileBlocked = await blocked(alice);
    const unblock = await injectAs(api.app, alice.accessToken, {
      method: 'DELETE',
      url: `/v1/blocks/${bob.user.id}`,
    });

    expect(block.statusCode).toBe(204);
    expect(whileBlocked).toEqual([bob.user.id]);
    expect(unblock.statusCode).toBe(204);
    expect(await blocked(alice)).toEqual([]);
    expect(await blocked(bob)).toEqual([]);
  });

  it('announces each change to the nodes', async () => {
    await injectAs(api.app, alice.accessToken, {
      method: 'POST',
      url: '/v1/blocks',
      payload: { userId: bob.user.id },
    });
    await injectAs(api.app, alice.accessToken, { method: 'DELETE', url: `/v1/blocks/${bob.user.id}` });

    await waitFor(() => events.length >= 2, 'two block events');
    const expected: ClusterEvent = { kind: 'block-changed', blocker: alice.user.id, blocked: bob.user.id };
    expect(events).toEqual([expected, expected]);
  });

  it('rejects blocking oneself or an unknown user', async () => {
    const self = await injectAs(api.app, alice.accessToken, {
      method: 'POST',
      url: '/v1/blocks',
      payload: { userId: alice.user.id },
    });
    const unknown = await injectAs(api.app, alice.accessToken, {
      method: 'POST',
      url: '/v1/blocks',
      payload: { userId: 'nobody' },
    });

    expect(self.statusCode).toBe(400);
    expect(errorOf(self).code).toBe(ErrorCode.RequestInvalid);
    expect(unknown.statusCode).toBe(404);
    expect(errorOf(unknown).code).toBe(ErrorCode.UserNotFound);
  });

  it('leaves a message hidden from its blocker out of their history', async () => {
    const conv = buildDirectConversationId(alice.user.id, bob.user.id);
    await api.store.ensureDirectConversation(conv, [alice.user.id, bob.user.id], Date.now());
    const build = (seq: number, body: string): MessageRecord => ({
      kind: 'message',
      conv,
      seq,
      from: bob.user.id,
      id: `m${seq}`,
      body,
      ts: Date.now(),
      targets: [],
    });
    const records = [
      build(1, 'before the block'),
      { ...build(2, 'while blocked'), hiddenFrom: alice.user.id },
    ];
    await api.store.applyRecords(records);

    const read = async (session: AuthSession) => {
      const response = await injectAs(api.app, session.accessToken, {
        method: 'GET',
        url: `/v1/conversations/${conv}/messages`,
      });
      expect(response.statusCode).toBe(200);
      return response.json<{ messages: StoredMessage[] }>().messages;
    };

    expect((await read(alice)).map((message) => message.body)).toEqual(['before the block']);
    const ofBob = await read(bob);
    expect(ofBob.map((message) => message.body)).toEqual(['while blocked', 'before the block']);
    expect(ofBob[0]).not.toHaveProperty('hiddenFrom');
  });
});
