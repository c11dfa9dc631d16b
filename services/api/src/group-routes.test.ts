import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '@switchboard/protocol';
import type { ClusterEvent, GroupDetails, StoredMessage } from '@switchboard/core';
import { waitFor } from '@switchboard/core/testing';
import type { AuthSession } from './auth-routes.ts';
import {
  applyMessage,
  createTestUser,
  errorOf,
  injectAs,
  startTestApi,
  type TestApi,
} from './test-support.ts';

describe('group routes', () => {
  let api: TestApi;
  let alice: AuthSession;
  let bob: AuthSession;
  let carol: AuthSession;
  let events: ClusterEvent[];

  beforeEach(async () => {
    api = await startTestApi();
    alice = await createTestUser(api, 'alice');
    bob = await createTestUser(api, 'bob');
    carol = await createTestUser(api, 'carol');
    events = [];
    await api.bus.subscribeEvents((event) => events.push(event));
  });

  afterEach(async () => {
    await api.close();
  });

  async function createGroup(
    session: AuthSession,
    body: Record<string, unknown> = { name: 'Team', members: [bob.user.id] },
  ): Promise<GroupDetails> {
    const response = await injectAs(api.app, session.accessToken, {
      method: 'POST',
      url: '/v1/groups',
      payload: body,
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json<GroupDetails>();
  }

  function request(
    session: AuthSession,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
  ) {
    return injectAs(
      api.app,
      session.accessToken,
      payload === undefined ? { method, url } : { method, url, payload },
    );
  }

  async function history(session: AuthSession, conv: string): Promise<number[]> {
    const response = await request(
      session,
      'GET',
      `/v1/conversations/${conv}/messages?limit=100&direction=newer`,
    );
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ messages: StoredMessage[] }>().messages.map((message) => message.seq);
  }

  it('creates a group whose creator is its admin', async () => {
    const group = await createGroup(alice);

    expect(group.conv).toBe(`g.${group.id}`);
    expect(group.kind).toBe('group');
    expect(group.name).toBe('Team');
    expect(group.createdBy).toBe(alice.user.id);
    expect(group.memberCount).toBe(2);
    expect(group.members).toEqual([
      { user: alice.user.id, role: 'admin', joinedSeq: 0 },
      { user: bob.user.id, role: 'member', joinedSeq: 0 },
    ]);
  });

  it('records the creation as a system message', async () => {
    const group = await createGroup(alice);
    await waitFor(() => events.some((event) => event.kind === 'records'), 'the records event');

    const [record] = events.flatMap((event) => (event.kind === 'records' ? event.records : []));
    expect(record).toMatchObject({
      kind: 'message',
      conv: group.conv,
      from: alice.user.id,
      body: '',
      event: { action: 'created', users: [alice.user.id, bob.user.id], name: 'Team', groupKind: 'group' },
    });
    expect(record?.targets.map((target) => target.user).sort()).toEqual([alice.user.id, bob.user.id].sort());
  });

  it('rejects founding members that do not exist', async () => {
    const response = await request(alice, 'POST', '/v1/groups', { name: 'Team', members: ['nobody'] });

    expect(response.statusCode).toBe(404);
    expect(errorOf(response).code).toBe(ErrorCode.UserNotFound);
  });

  it.each([
    ['an empty name', { name: '' }],
    ['a blank name', { name: '   ' }],
    ['a name of zero-width spaces', { name: '\u200b\u200b' }],
    ['a name with a control character', { name: 'Team\u0007' }],
    ['a name with a lone surrogate', { name: 'Team \ud800' }],
    ['a name with a bidirectional override', { name: 'Team \u202Egnp.exe' }],
    ['an unknown kind', { name: 'Team', kind: 'forum' }],
    ['a malformed member id', { name: 'Team', members: ['bo b'] }],
    ['an unknown field', { name: 'Team', public: true }],
  ])('rejects a create with %s', async (_case, body) => {
    const response = await request(alice, 'POST', '/v1/groups', body);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
  });

  it.each([
    ['letters with accents', 'Équipe ünïcode'],
    ['an emoji sequence', 'Family 👨\u200d👩\u200d👧'],
    ['a zero-width space between letters', 'x\u200by'],
  ])('accepts a group name with %s', async (_case, name) => {
    const response = await request(alice, 'POST', '/v1/groups', { name });

    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ name });
  });

  it('shows a group only to its members', async () => {
    const group = await createGroup(alice);

    const asMember = await request(bob, 'GET', `/v1/groups/${group.id}`);
    const asStranger = await request(carol, 'GET', `/v1/groups/${group.id}`);
    const unknown = await request(alice, 'GET', '/v1/groups/nothing-here');

    expect(asMember.statusCode).toBe(200);
    expect(asStranger.statusCode).toBe(404);
    expect(errorOf(asStranger).code).toBe(ErrorCode.ConversationNotFound);
    expect(unknown.statusCode).toBe(404);
  });

  it('lets an admin rename the group and add members', async () => {
    const group = await createGroup(alice);

    const renamed = await request(alice, 'PATCH', `/v1/groups/${group.id}`, { name: 'Renamed' });
    const added = await request(alice, 'POST', `/v1/groups/${group.id}/members`, {
      userIds: [carol.user.id],
    });

    expect(renamed.statusCode).toBe(200);
    expect(renamed.json<GroupDetails>().name).toBe('Renamed');
    expect(added.statusCode).toBe(200);
    const carolEntry = added.json<GroupDetails>().members.find((member) => member.user === carol.user.id);
    expect(carolEntry?.role).toBe('member');
    expect(carolEntry?.joinedSeq).toBeGreaterThan(0);
  });

  it('rejects changes by a member who is not an admin', async () => {
    const group = await createGroup(alice);

    const responses = [
      await request(bob, 'PATCH', `/v1/groups/${group.id}`, { name: 'Mine' }),
      await request(bob, 'POST', `/v1/groups/${group.id}/members`, { userIds: [carol.user.id] }),
      await request(bob, 'DELETE', `/v1/groups/${group.id}/members/${alice.user.id}`),
      await request(bob, 'PATCH', `/v1/groups/${group.id}/members/${bob.user.id}`, { role: 'admin' }),
    ];

    for (const response of responses) {
      expect(response.statusCode).toBe(403);
      expect(errorOf(response).code).toBe(ErrorCode.ConversationForbidden);
    }
  });

  it('lets an admin promote a member, who may then change the group', async () => {
    const group = await createGroup(alice);

    const promoted = await request(alice, 'PATCH', `/v1/groups/${group.id}/members/${bob.user.id}`, {
      role: 'admin',
    });
    const added = await request(bob, 'POST', `/v1/groups/${group.id}/members`, { userIds: [carol.user.id] });

    expect(promoted.statusCode).toBe(200);
    expect(promoted.json<GroupDetails>().members.find((member) => member.user === bob.user.id)?.role).toBe(
      'admin',
    );
    expect(added.statusCode).toBe(200);
  });

  it('limits a removed member to the history before the removal', async () => {
    const group = await createGroup(alice, { name: 'Team', members: [bob.user.id, carol.user.id] });
    const members = [alice.user.id, bob.user.id, carol.user.id];
    const before = await applyMessage(api, group.conv, alice.user.id, 'before', members);

    const removed = await request(alice, 'DELETE', `/v1/groups/${group.id}/members/${bob.user.id}`);
    const after = await applyMessage(api, group.conv, alice.user.id, 'after', [alice.user.id, carol.user.id]);

    expect(removed.statusCode).toBe(200);
    expect(removed.json<GroupDetails>().members.map((member) => member.user)).not.toContain(bob.user.id);
    const bobMember = await api.store.getGroupMember(group.conv, bob.user.id);
    expect(bobMember?.leftSeq).toBeGreaterThan(before.seq);
    expect(await history(bob, group.conv)).toEqual([before.seq]);
    expect(await history(carol, group.conv)).toEqual([before.seq, after.seq]);
    expect((await request(bob, 'GET', `/v1/groups/${group.id}`)).statusCode).toBe(404);
  });

  it('lets a new member read from the event that added them', async () => {
    const group = await createGroup(alice);
    const members = [alice.user.id, bob.user.id];
    await applyMessage(api, group.conv, alice.user.id, 'before carol', members);

    await request(alice, 'POST', `/v1/groups/${group.id}/members`, { userIds: [carol.user.id] });
    const after = await applyMessage(api, group.conv, bob.user.id, 'after carol', [
      ...members,
      carol.user.id,
    ]);

    expect(await history(carol, group.conv)).toEqual([after.seq]);
  });

  it('rejects removing a user who is not a member', async () => {
    const group = await createGroup(alice);

    const response = await request(alice, 'DELETE', `/v1/groups/${group.id}/members/${carol.user.id}`);

    expect(response.statusCode).toBe(404);
    expect(errorOf(response).code).toBe(ErrorCode.UserNotFound);
  });

  it('rejects an admin removing themselves', async () => {
    const group = await createGroup(alice);

    const response = await request(alice, 'DELETE', `/v1/groups/${group.id}/members/${alice.user.id}`);
    const seen = await request(alice, 'GET', `/v1/groups/${group.id}`);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(ErrorCode.RequestInvalid);
    expect(seen.statusCode).toBe(200);
    expect(seen.json<GroupDetails>().members).toEqual([
      { user: alice.user.id, role: 'admin', joinedSeq: 0 },
      { user: bob.user.id, role: 'member', joinedSeq: 0 },
    ]);
  });

  it('hands admin to the earliest member when the last admin leaves', async () => {
    const group = await createGroup(alice);

    const left = await request(alice, 'POST', `/v1/groups/${group.id}/leave`);
    const seen = await request(bob, 'GET', `/v1/groups/${group.id}`);

    expect(left.statusCode).toBe(204);
    expect(seen.json<GroupDetails>().members).toEqual([{ user: bob.user.id, role: 'admin', joinedSeq: 0 }]);
    expect((await request(alice, 'POST', `/v1/groups/${group.id}/leave`)).statusCode).toBe(404);
  });

  it('creates a channel', async () => {
    const channel = await createGroup(alice, { name: 'News', kind: 'channel', members: [bob.user.id] });

    expect(channel.kind).toBe('channel');
    const listed = await request(bob, 'GET', '/v1/conversations');
    expect(listed.json<{ conversations: Array<{ id: string; group?: unknown }> }>().conversations).toEqual([
      expect.objectContaining({ id: channel.conv, group: { name: 'News', kind: 'channel' } }),
    ]);
  });

  it('announces membership changes to the nodes', async () => {
    const group = await createGroup(alice);
    await waitFor(() => events.some((event) => event.kind === 'records'), 'the creation event');
    events.length = 0;

    await request(alice, 'POST', `/v1/groups/${group.id}/members`, { userIds: [carol.user.id] });
    await waitFor(() => events.some((event) => event.kind === 'records'), 'the records event');

    expect(events.some((event) => event.kind === 'conversation-changed' && event.conv === group.conv)).toBe(
      true,
    );
    const records = events.flatMap((event) => (event.kind === 'records' ? event.records : []));
    expect(records.map((record) => record.kind === 'message' && record.event?.action)).toEqual(['added']);
  });
});
