import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildDirectConversationId, ErrorCode } from '@switchboard/protocol';
import type { AuthSession } from './auth-routes.ts';
import { API_BODY_LIMIT_BYTES } from './schemas.ts';
import {
  applyMessage,
  applyReceipt,
  errorOf,
  injectAs,
  createTestUser,
  startTestApi,
  type TestApi,
} from './test-support.ts';

interface ConversationView {
  id: string;
  kind: string;
  members: Array<{
    id: string;
    username: string;
    displayName: string;
    deliveredSeq: number;
    readSeq: number;
  }>;
  lastMessage: { conv: string; seq: number; from: string; id: string; body: string; ts: number } | null;
  unread: number;
}

describe('conversation routes', () => {
  let api: TestApi;
  let alice: AuthSession;
  let bob: AuthSession;
  let carol: AuthSession;

  beforeEach(async () => {
    api = await startTestApi();
    alice = await createTestUser(api, 'alice');
    bob = await createTestUser(api, 'bob');
    carol = await createTestUser(api, 'carol');
  });

  afterEach(async () => {
    await api.close();
  });

  function openDirect(session: AuthSession, payload: unknown) {
    return injectAs(api.app, session.accessToken, {
      method: 'POST',
      url: '/v1/conversations/direct',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
  }

  async function listConversations(session: AuthSession): Promise<ConversationView[]> {
    const response = await injectAs(api.app, session.accessToken, {
      method: 'GET',
      url: '/v1/conversations',
    });
    expect(response.statusCode).toBe(200);
    return response.json<{ conversations: ConversationView[] }>().conversations;
  }

  describe('POST /v1/conversations/direct', () => {
    it('creates the conversation and returns its id', async () => {
      const response = await openDirect(alice, { userId: bob.user.id });

      expect(response.statusCode).toBe(200);
      const expected = buildDirectConversationId(alice.user.id, bob.user.id);
      expect(response.json()).toEqual({ id: expected });
      const stored = await api.store.getConversation(expected);
      expect(stored?.kind).toBe('direct');
      expect([...(stored?.members ?? [])].sort()).toEqual([alice.user.id, bob.user.id].sort());
    });

    it('returns one id to both members', async () => {
      const first = await openDirect(alice, { userId: bob.user.id });
      const again = await openDirect(alice, { userId: bob.user.id });
      const fromBob = await openDirect(bob, { userId: alice.user.id });

      expect(again.json()).toEqual(first.json());
      expect(fromBob.json()).toEqual(first.json());
      expect(await listConversations(alice)).toHaveLength(1);
    });

    it('returns 404 for an unknown user', async () => {
      const response = await openDirect(alice, { userId: 'u_nobody' });

      expect(response.statusCode).toBe(404);
      expect(errorOf(response).code).toBe(ErrorCode.UserNotFound);
      expect(await listConversations(alice)).toEqual([]);
    });

    it('rejects a conversation with yourself', async () => {
      const response = await openDirect(alice, { userId: alice.user.id });

      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
      expect(await listConversations(alice)).toEqual([]);
    });

    it.each<[string, unknown]>([
      ['missing userId', {}],
      ['numeric userId', { userId: 42 }],
      ['null userId', { userId: null }],
      ['empty userId', { userId: '' }],
      ['userId with a dot', { userId: 'u_a.b' }],
      ['userId of 65 characters', { userId: 'u'.repeat(65) }],
      ['extra field', { userId: 'u_bob', kind: 'group' }],
      ['array body', ['u_bob']],
    ])('rejects %s with 400', async (_case, payload) => {
      const response = await openDirect(alice, payload);

      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
    });

    it('rejects a body over the size limit with 413', async () => {
      const response = await openDirect(alice, { userId: 'u'.repeat(API_BODY_LIMIT_BYTES) });

      expect(response.statusCode).toBe(413);
    });
  });

  describe('GET /v1/conversations', () => {
    it('returns an empty list at first', async () => {
      expect(await listConversations(alice)).toEqual([]);
    });

    it('lists a new conversation with members', async () => {
      const conv = (await openDirect(alice, { userId: bob.user.id })).json<{ id: string }>().id;

      const [view] = await listConversations(bob);

      expect(view).toEqual({
        id: conv,
        kind: 'direct',
        members: expect.any(Array),
        lastMessage: null,
        unread: 0,
      });
      const members = [...(view?.members ?? [])].sort((a, b) => a.username.localeCompare(b.username));
      expect(members).toEqual([
        { id: alice.user.id, username: 'alice', displayName: 'alice', deliveredSeq: 0, readSeq: 0 },
        { id: bob.user.id, username: 'bob', displayName: 'bob', deliveredSeq: 0, readSeq: 0 },
      ]);
    });

    it('shows last message and unread count', async () => {
      const conv = (await openDirect(alice, { userId: bob.user.id })).json<{ id: string }>().id;
      const members = [alice.user.id, bob.user.id];
      await applyMessage(api, conv, alice.user.id, 'hi bob', members);
      await applyMessage(api, conv, alice.user.id, 'are you there?', members);
      await applyMessage(api, conv, bob.user.id, 'yes', members);
      await applyMessage(api, conv, bob.user.id, 'one moment', members);
      const last = await applyMessage(api, conv, bob.user.id, 'back', members);

      const [forAlice] = await listConversations(alice);
      const [forBob] = await listConversations(bob);

      expect(forAlice?.lastMessage).toEqual({
        conv,
        seq: last.seq,
        from: bob.user.id,
        id: last.id,
        body: 'back',
        ts: last.ts,
      });
      expect(forAlice?.unread).toBe(3);
      expect(forBob?.unread).toBe(2);
      expect(forBob?.lastMessage?.seq).toBe(last.seq);
    });

    it('counts unread after read watermark', async () => {
      const conv = (await openDirect(alice, { userId: bob.user.id })).json<{ id: string }>().id;
      const members = [alice.user.id, bob.user.id];
      const sent = [];
      for (const body of ['one', 'two', 'three', 'four']) {
        sent.push(await applyMessage(api, conv, bob.user.id, body, members));
      }
      await applyReceipt(api, conv, alice.user.id, 'delivered', sent[3]!.seq, members);
      await applyReceipt(api, conv, alice.user.id, 'read', sent[2]!.seq, members);

      const [view] = await listConversations(alice);

      expect(view?.unread).toBe(1);
      const aliceState = view?.members.find((member) => member.id === alice.user.id);
      expect(aliceState?.deliveredSeq).toBe(sent[3]!.seq);
      expect(aliceState?.readSeq).toBe(sent[2]!.seq);
      const bobState = view?.members.find((member) => member.id === bob.user.id);
      expect(bobState?.readSeq).toBe(0);
    });

    it("lists only the caller's conversations", async () => {
      const aliceBob = (await openDirect(alice, { userId: bob.user.id })).json<{ id: string }>().id;
      const bobCarol = (await openDirect(bob, { userId: carol.user.id })).json<{ id: string }>().id;

      const forAlice = await listConversations(alice);
      const forBob = await listConversations(bob);
      const forCarol = await listConversations(carol);

      expect(forAlice.map((view) => view.id)).toEqual([aliceBob]);
      expect(forBob.map((view) => view.id).sort()).toEqual([aliceBob, bobCarol].sort());
      expect(forCarol.map((view) => view.id)).toEqual([bobCarol]);
    });
  });
});
