import { createHmac } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, type ErrorFrame } from '@switchboard/protocol';
import { TokenIssuer } from '@switchboard/core';
import { RawSocket } from './testing/raw-socket.ts';
import {
  registerUser,
  routeFor,
  startTestCluster,
  type TestCluster,
  type TestUser,
} from './testing/cluster.ts';

const SECRET = 'test-secret-test-secret-test-secret-0123456789';
const MAX_FRAME = 2048;

let cluster: TestCluster;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

async function connect(user: TestUser): Promise<RawSocket> {
  const route = await routeFor(cluster.routerUrl, user.accessToken);
  return (await RawSocket.openWelcomed(route.url, user.accessToken)).socket;
}

async function expectError(socket: RawSocket, code: string): Promise<ErrorFrame> {
  const frame = await socket.next('error');
  expect(frame.code).toBe(code);
  expect(frame.message.length).toBeGreaterThan(0);
  return frame;
}

/** Proves the connection still works after a rejected frame. */
async function expectAlive(socket: RawSocket): Promise<void> {
  socket.sendJson({ type: 'ping', id: 'alive' });
  const pong = await socket.next('pong');
  expect(pong.id).toBe('alive');
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

beforeAll(async () => {
  cluster = await startTestCluster({
    policy: {
      maxFrameBytes: MAX_FRAME,
      maxBodyBytes: 1024,
      framesPerSecond: 20,
      rateLimitCloseAfter: 40,
      maxConnectionsPerUser: 3,
    },
  });
  alice = await registerUser(cluster.apiUrl, 'alice');
  bob = await registerUser(cluster.apiUrl, 'bob');
  carol = await registerUser(cluster.apiUrl, 'carol');
});

afterAll(async () => {
  await cluster?.destroy();
});

describe('upgrade authentication', () => {
  async function upgradeStatus(token: string | undefined): Promise<{ status: number; code: string }> {
    const url = cluster.nodes[0]!.url;
    const result = await RawSocket.open(url, token);
    if (result.ok) {
      result.socket.close();
      throw new Error('the upgrade succeeded');
    }
    return {
      status: result.status,
      code: (JSON.parse(result.body) as { error: { code: string } }).error.code,
    };
  }

  it('reads the Authorization header as the API does', async () => {
    // The upgrade succeeds on any node; one that does not own the user redirects afterwards.
    const url = cluster.nodes[0]!.url;
    for (const header of [`bearer ${alice.accessToken}`, `BEARER  ${alice.accessToken} `]) {
      const result = await RawSocket.open(url, undefined, { authorization: header });
      expect(result.ok, header.slice(0, 8)).toBe(true);
      if (result.ok) result.socket.close();
    }

    const result = await RawSocket.open(url, undefined, { authorization: `Token ${alice.accessToken}` });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.status).toBe(401);
      expect((JSON.parse(result.body) as { error: { code: string } }).error.code).toBe(
        ErrorCode.AuthTokenInvalid,
      );
    }
  });

  it('rejects a missing token before the upgrade', async () => {
    expect(await upgradeStatus(undefined)).toEqual({ status: 401, code: ErrorCode.AuthTokenMissing });
  });

  it('rejects an expired token before the upgrade', async () => {
    const issuer = new TokenIssuer({ secret: SECRET, accessTtlSeconds: 60, refreshTtlSeconds: 60 });
    const expired = await issuer.issueAccess(alice.id, Date.now() - 3600_000);
    expect(await upgradeStatus(expired)).toEqual({ status: 401, code: ErrorCode.AuthTokenExpired });
  });

  it('rejects a token signed with another secret', async () => {
    const issuer = new TokenIssuer({ secret: 'x'.repeat(48), accessTtlSeconds: 60, refreshTtlSeconds: 60 });
    const forged = await issuer.issueAccess(alice.id);
    expect(await upgradeStatus(forged)).toEqual({ status: 401, code: ErrorCode.AuthTokenInvalid });
  });

  it('rejects an alg none token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: alice.id, iss: 'switchboard', iat: now, exp: now + 600 })}.`;
    expect(await upgradeStatus(unsigned)).toEqual({ status: 401, code: ErrorCode.AuthTokenInvalid });
  });

  it('rejects a token whose payload was edited after signing', async () => {
    const [header, , signature] = alice.accessToken.split('.');
    const now = Math.floor(Date.now() / 1000);
    const edited = `${header}.${base64url({ sub: bob.id, iss: 'switchboard', iat: now, exp: now + 600 })}.${signature}`;
    expect(await upgradeStatus(edited)).toEqual({ status: 401, code: ErrorCode.AuthTokenInvalid });
  });

  it('rejects an HS512 token made with the right secret', async () => {
    const now = Math.floor(Date.now() / 1000);
    const head = `${base64url({ alg: 'HS512', typ: 'JWT' })}.${base64url({ sub: alice.id, iss: 'switchboard', iat: now, exp: now + 600 })}`;
    const signature = createHmac('sha512', SECRET).update(head).digest('base64url');
    expect(await upgradeStatus(`${head}.${signature}`)).toEqual({
      status: 401,
      code: ErrorCode.AuthTokenInvalid,
    });
  });

  it('rejects garbage', async () => {
    expect(await upgradeStatus('not-a-jwt')).toEqual({ status: 401, code: ErrorCode.AuthTokenInvalid });
  });
});

describe('bad frames', () => {
  let socket: RawSocket;

  beforeAll(async () => {
    socket = await connect(alice);
  });

  afterAll(() => socket.close());

  it.each([
    ['malformed JSON', '{"type":"send",', ErrorCode.FrameMalformed],
    ['a JSON array', '[]', ErrorCode.FrameMalformed],
    ['an unknown frame type', '{"type":"teleport"}', ErrorCode.FrameUnknownType],
    ['a numeric id', '{"type":"send","id":7,"to":"x","body":"hi"}', ErrorCode.FrameInvalidField],
    ['a numeric body', '{"type":"send","id":"m1","to":"x","body":42}', ErrorCode.FrameInvalidField],
    [
      'a string sequence number',
      '{"type":"fetch","conv":"d.a.b","from":"1","to":2}',
      ErrorCode.FrameInvalidField,
    ],
    ['an empty body', '{"type":"send","id":"m1","to":"x","body":""}', ErrorCode.BodyEmpty],
    [
      'a forged sender field',
      '{"type":"send","id":"m1","to":"x","body":"hi","from":"bob"}',
      ErrorCode.FrameInvalidField,
    ],
  ])('answers %s with an error frame', async (_name, text, code) => {
    socket.sendText(text);
    await expectError(socket, code);
    await expectAlive(socket);
  });

  it('answers an oversized body with an error frame', async () => {
    socket.sendJson({ type: 'send', id: 'big1', to: bob.id, body: 'x'.repeat(1025) });
    const frame = await expectError(socket, ErrorCode.BodyTooLarge);
    expect(frame.ref).toBe('big1');
    await expectAlive(socket);
  });

  it('answers a binary frame with an error frame', async () => {
    socket.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    await expectError(socket, ErrorCode.FrameBinary);
    await expectAlive(socket);
  });

  it('answers a body holding a lone surrogate with an error frame', async () => {
    socket.sendText('{"type":"send","id":"s1","to":"x","body":"\\ud83d"}');
    await expectError(socket, ErrorCode.FrameInvalidUtf8);
    await expectAlive(socket);
  });

  it('answers a frame over maxFrameBytes with an error frame', async () => {
    socket.sendText(JSON.stringify({ type: 'ping', pad: 'x'.repeat(MAX_FRAME) }));
    await expectError(socket, ErrorCode.FrameTooLarge);
    await expectAlive(socket);
  });

  it('answers a message to a user who does not exist', async () => {
    socket.sendJson({ type: 'send', id: 'ghost1', to: 'u_nobody_here', body: 'hello?' });
    const frame = await expectError(socket, ErrorCode.UserNotFound);
    expect(frame.ref).toBe('ghost1');
  });

  it('answers a message to a conversation that does not exist', async () => {
    socket.sendJson({ type: 'send', id: 'ghost2', conv: 'd.u_x.u_y', body: 'hello?' });
    await expectError(socket, ErrorCode.ConversationNotFound);
  });

  it('answers a non-member as if the conversation did not exist', async () => {
    const bobSocket = await connect(bob);
    bobSocket.sendJson({ type: 'send', id: 'b1', to: carol.id, body: 'private' });
    const ack = await bobSocket.next('ack');
    bobSocket.close();

    socket.sendJson({ type: 'send', id: 'intrude1', conv: ack.conv, body: 'let me in' });
    await expectError(socket, ErrorCode.ConversationNotFound);
    socket.sendJson({ type: 'fetch', conv: ack.conv, from: 1, to: 1 });
    await expectError(socket, ErrorCode.ConversationNotFound);
    socket.sendJson({ type: 'receipt', conv: ack.conv, kind: 'read', seq: 1 });
    await expectError(socket, ErrorCode.ConversationNotFound);
  });

  it('rejects a receipt beyond the last message', async () => {
    socket.sendJson({ type: 'send', id: 'r1', to: bob.id, body: 'one' });
    const ack = await socket.next('ack');
    socket.sendJson({ type: 'receipt', conv: ack.conv, kind: 'read', seq: ack.seq + 1000 });
    await expectError(socket, ErrorCode.FrameInvalidField);
  });

  it('rejects a reused id with a different body', async () => {
    socket.sendJson({ type: 'send', id: 'twice', to: bob.id, body: 'the meeting is at 10' });
    const ack = await socket.next('ack');
    socket.sendJson({ type: 'send', id: 'twice', to: bob.id, body: 'the meeting is cancelled' });
    const error = await expectError(socket, ErrorCode.IdConflict);
    expect(error.ref).toBe('twice');
    socket.sendJson({ type: 'fetch', conv: ack.conv, from: ack.seq, to: ack.seq });
    const fetched = await socket.next('fetched');
    expect(fetched.messages.map((message) => message.body)).toEqual(['the meeting is at 10']);
  });

  it('stored nothing for the rejected frames', async () => {
    const response = await fetch(`${cluster.apiUrl}/v1/conversations`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    const body = (await response.json()) as {
      conversations: Array<{ id: string; lastMessage: { body: string } | null }>;
    };
    expect(body.conversations).toHaveLength(1);
    expect(body.conversations[0]!.lastMessage?.body).toBe('the meeting is at 10');
  });
});

/** Sends raw bytes to an HTTP origin and returns all it sent back before closing. */
async function sendRawHttp(origin: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), hostname, () => socket.end(bytes));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

describe('malformed HTTP', () => {
  it.each([
    ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'],
    ['a bad request line', 'NOT HTTP AT ALL\r\n\r\n'],
  ])('answers %s with the error body', async (_case, bytes) => {
    for (const origin of new Set([cluster.apiUrl, cluster.routerUrl])) {
      const answer = await sendRawHttp(origin, bytes);
      const [head = '', body = ''] = answer.split('\r\n\r\n');

      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      expect(JSON.parse(body)).toMatchObject({
        error: { code: ErrorCode.RequestInvalid, retryable: false },
      });
    }
  });
});

describe('connections that misbehave', () => {
  it('closes connections of one user beyond the limit with 4008', async () => {
    const open: RawSocket[] = [];
    for (let i = 0; i < 3; i++) open.push(await connect(carol));
    const route = await routeFor(cluster.routerUrl, carol.accessToken);
    const extra = await RawSocket.open(route.url, carol.accessToken);
    if (!extra.ok) throw new Error(`upgrade failed: ${extra.status}`);
    expect(await extra.socket.closed()).toBe(CloseCode.TooManyConnections);
    for (const socket of open) socket.close();
  });

  it('closes after too many invalid frames in a row with 4006', async () => {
    const socket = await connect(carol);
    for (let i = 0; i < 25; i++) socket.sendText('nonsense');
    expect(await socket.closed()).toBe(CloseCode.ProtocolViolation);
  });

  it('answers a flood with rate-limit errors, then closes with 4004', async () => {
    const socket = await connect(bob);
    for (let i = 0; i < 200; i++) socket.sendJson({ type: 'ping' });
    const error = await socket.next('error');
    expect(error.code).toBe(ErrorCode.RateLimited);
    expect(error.retryable).toBe(true);
    expect(await socket.closed()).toBe(CloseCode.RateLimited);
  });

  it('fails the connection on invalid UTF-8 in a text frame', async () => {
    // RFC 6455 section 8.1: an endpoint that finds invalid UTF-8 in a text frame fails the
    // connection. uWebSockets.js does so before the node sees the frame, without a close frame.
    const socket = await connect(carol);
    socket.sendText(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]));
    expect(await socket.closed()).toBe(1006);
    const again = await connect(carol);
    await expectAlive(again);
    again.close();
  });

  it('cuts a frame far above the limit without crashing the node', async () => {
    const socket = await connect(carol);
    socket.sendText('x'.repeat(MAX_FRAME * 5));
    const code = await socket.closed();
    expect([1006, 1009]).toContain(code);
    const again = await connect(carol);
    await expectAlive(again);
    again.close();
  });

  it('keeps serving other users through all of the above', async () => {
    const socket = await connect(alice);
    socket.sendJson({ type: 'send', id: 'after-abuse', to: bob.id, body: 'still here' });
    const ack = await socket.next('ack');
    expect(ack.seq).toBeGreaterThan(0);
    socket.close();
  });
});
