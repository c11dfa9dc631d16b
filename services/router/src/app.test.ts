import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  MembershipView,
  NotFoundError,
  registerErrorHandler,
  TokenIssuer,
  type NodeInfo,
} from '@switchboard/core';
import { InProcessBus } from '@switchboard/embedded';
import { ErrorCode } from '@switchboard/protocol';
import { buildRing } from '@switchboard/ring';
import { buildRouter, createRouterApp } from './app.ts';

const ACCESS_TTL_SECONDS = 60;

function makeNode(index: number): NodeInfo {
  return {
    id: `node-${index}`,
    url: `ws://127.0.0.1:${9000 + index}/ws`,
    weight: 1,
    startedAt: 1_700_000_000_000 + index,
  };
}

function makeIssuer(): TokenIssuer {
  return new TokenIssuer({
    secret: randomBytes(32),
    accessTtlSeconds: ACCESS_TTL_SECONDS,
    refreshTtlSeconds: 3600,
  });
}

function encodeSegment(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function waitFor(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Harness {
  bus: InProcessBus;
  membership: MembershipView;
  tokens: TokenIssuer;
  app: FastifyInstance;
  nodes: NodeInfo[];
}

/** Starts a bus with `nodeCount` announced nodes, a view of them and the router app. */
async function startRouter(nodeCount: number): Promise<Harness> {
  const bus = new InProcessBus({ sweepIntervalMs: 20 });
  cleanups.push(() => bus.close());
  const nodes = Array.from({ length: nodeCount }, (_, i) => makeNode(i + 1));
  for (const node of nodes) await bus.heartbeat(node, 60_000);

  const membership = new MembershipView({ bus, refreshMs: 50 });
  cleanups.push(() => membership.stop());
  await membership.start();
  const tokens = makeIssuer();
  const app = createRouterApp({ membership, tokens });
  cleanups.push(() => app.close());
  await app.ready();
  return { bus, membership, tokens, app, nodes };
}

async function requestRoute(app: FastifyInstance, authorization?: string) {
  const headers = authorization === undefined ? {} : { authorization };
  return app.inject({ method: 'GET', url: '/v1/route', headers });
}

describe('GET /v1/route', () => {
  it('returns the node that owns the user', async () => {
    const { app, tokens, nodes, membership } = await startRouter(3);
    const token = await tokens.issueAccess('alice');

    const response = await requestRoute(app, `Bearer ${token}`);

    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const expectedRing = buildRing(nodes);
    const expectedNode = nodes.find((node) => node.id === expectedRing.ownerOf('alice'))!;
    expect(response.json()).toEqual({
      node: expectedNode.id,
      url: expectedNode.url,
      ringVersion: expectedRing.version,
    });
    expect(membership.ringVersion).toBe(expectedRing.version);
  });

  it('returns the same node on every call', async () => {
    const { app, tokens } = await startRouter(3);
    const token = await tokens.issueAccess('alice');

    const first = (await requestRoute(app, `Bearer ${token}`)).json();
    for (let i = 0; i < 5; i++) {
      const again = await requestRoute(app, `bearer  ${token}`);
      expect(again.json()).toEqual(first);
    }
  });

  it('spreads users over the nodes', async () => {
    const { app, tokens } = await startRouter(3);
    const owners = new Set<string>();

    for (let i = 0; i < 30; i++) {
      const token = await tokens.issueAccess(`user-${i}`);
      const response = await requestRoute(app, `Bearer ${token}`);
      owners.add((response.json() as { node: string }).node);
    }

    expect(owners.size).toBeGreaterThan(1);
  });

  it.each([
    ['no authorization header', async () => undefined, ErrorCode.AuthTokenMissing],
    ['an empty bearer token', async () => 'Bearer ', ErrorCode.AuthTokenMissing],
    [
      'an expired token',
      async (tokens: TokenIssuer) =>
        `Bearer ${await tokens.issueAccess('alice', Date.now() - 2 * ACCESS_TTL_SECONDS * 1000)}`,
      ErrorCode.AuthTokenExpired,
    ],
    [
      'a token signed with another secret',
      async () => `Bearer ${await makeIssuer().issueAccess('alice')}`,
      ErrorCode.AuthTokenInvalid,
    ],
    [
      'an alg none token',
      async () => {
        const now = Math.floor(Date.now() / 1000);
        const header = encodeSegment({ alg: 'none', typ: 'JWT' });
        const payload = encodeSegment({ sub: 'alice', iss: 'switchboard', iat: now, exp: now + 60 });
        return `Bearer ${header}.${payload}.`;
      },
      ErrorCode.AuthTokenInvalid,
    ],
    [
      'a token whose payload was changed',
      async (tokens: TokenIssuer) => {
        const [header, , signature] = (await tokens.issueAccess('alice')).split('.');
        const now = Math.floor(Date.now() / 1000);
        const payload = encodeSegment({ sub: 'mallory', iss: 'switchboard', iat: now, exp: now + 60 });
        return `Bearer ${header}.${payload}.${signature}`;
      },
      ErrorCode.AuthTokenInvalid,
    ],
    ['a token that is not a JWT', async () => 'Bearer not-a-jwt', ErrorCode.AuthTokenInvalid],
    [
      'the Basic scheme',
      async () => `Basic ${Buffer.from('alice:secret').toString('base64')}`,
      ErrorCode.AuthTokenInvalid,
    ],
  ])('rejects %s with 401', async (_case, makeHeader, code) => {
    const { app, tokens } = await startRouter(2);

    const response = await requestRoute(app, await makeHeader(tokens));

    expect(response.statusCode).toBe(401);
    const body = response.json() as { error: { code: string; message: string; retryable: boolean } };
    expect(body.error.code).toBe(code);
    expect(body.error.message).toEqual(expect.any(String));
    expect(body.error.retryable).toBe(false);
  });

  it('answers 503 on an empty ring', async () => {
    const { app, tokens } = await startRouter(0);
    const token = await tokens.issueAccess('alice');

    const response = await requestRoute(app, `Bearer ${token}`);

    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      error: { code: ErrorCode.RingEmpty, message: expect.any(String), retryable: true },
    });
  });

  it('moves the owner when its node leaves', async () => {
    const { app, tokens, bus, membership, nodes } = await startRouter(3);
    const token = await tokens.issueAccess('alice');
    const before = (await requestRoute(app, `Bearer ${token}`)).json() as {
      node: string;
      ringVersion: string;
    };

    await bus.leave(before.node);
    await waitFor(
      () => !membership.ring.nodes.includes(before.node),
      2000,
      'the ring kept the node that left',
    );
    const after = (await requestRoute(app, `Bearer ${token}`)).json() as {
      node: string;
      ringVersion: string;
    };

    const remaining = buildRing(nodes.filter((node) => node.id !== before.node));
    expect(after.node).not.toBe(before.node);
    expect(after.node).toBe(remaining.ownerOf('alice'));
    expect(after.ringVersion).toBe(remaining.version);
    expect(after.ringVersion).not.toBe(before.ringVersion);
  });
});

describe('GET /v1/ring', () => {
  it('lists the nodes and version without a token', async () => {
    const { app, nodes } = await startRouter(2);

    const response = await app.inject({ method: 'GET', url: '/v1/ring' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      version: buildRing(nodes).version,
      nodes: nodes.map((node) => ({ id: node.id, url: node.url, weight: node.weight })),
    });
  });
});

describe('registerErrorHandler', () => {
  async function startErrorApp(lines: string[]): Promise<FastifyInstance> {
    const app = Fastify({
      logger: { level: 'debug', stream: { write: (line: string) => void lines.push(line) } },
    });
    cleanups.push(() => app.close());
    registerErrorHandler(app);
    app.get(
      '/items',
      {
        schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', maximum: 100 } } } },
      },
      async () => ({ ok: true }),
    );
    app.get('/missing', async () => {
      throw new NotFoundError(ErrorCode.UserNotFound, 'user "bob" not found');
    });
    app.get('/broken', async () => {
      throw new Error('database password is hunter2');
    });
    app.post('/echo', async (request) => request.body);
    await app.ready();
    return app;
  }

  it('answers 400 on a schema failure', async () => {
    const app = await startErrorApp([]);

    const response = await app.inject({ method: 'GET', url: '/items?limit=1000' });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: { code: ErrorCode.RequestInvalid, message: expect.stringContaining('limit'), retryable: false },
    });
  });

  it("answers with a SwitchboardError's code", async () => {
    const app = await startErrorApp([]);

    const response = await app.inject({ method: 'GET', url: '/missing' });

    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: { code: ErrorCode.UserNotFound, message: 'user "bob" not found', retryable: false },
    });
  });

  it('answers 404 without echoing the query', async () => {
    const app = await startErrorApp([]);

    const response = await app.inject({ method: 'GET', url: '/nowhere?access_token=secret' });

    expect(response.statusCode).toBe(404);
    const body = response.json() as { error: { code: string; message: string } };
    expect(body.error.code).toBe(ErrorCode.NotFound);
    expect(body.error.message).toBe('no route for GET /nowhere');
  });

  it('hides and logs internal errors', async () => {
    const lines: string[] = [];
    const app = await startErrorApp(lines);

    const response = await app.inject({ method: 'GET', url: '/broken' });

    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      error: { code: ErrorCode.Internal, message: 'internal server error', retryable: true },
    });
    const errors = lines
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string } })
      .filter((entry) => entry.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toBe('request failed');
    expect(errors[0]!.err?.message).toBe('database password is hunter2');
  });

  it('answers 400 on a malformed JSON body', async () => {
    const app = await startErrorApp([]);

    const response = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"unterminated',
    });

    expect(response.statusCode).toBe(400);
    expect((response.json() as { error: { code: string } }).error.code).toBe(ErrorCode.RequestInvalid);
  });
});

describe('buildRouter', () => {
  it('stops its view on close', async () => {
    const bus = new InProcessBus({ sweepIntervalMs: 20 });
    cleanups.push(() => bus.close());
    await bus.heartbeat(makeNode(1), 60_000);
    const tokens = makeIssuer();
    const { app, membership } = await buildRouter({ bus, tokens, refreshMs: 50 });
    const token = await tokens.issueAccess('alice');

    const response = await requestRoute(app, `Bearer ${token}`);
    await app.close();
    await bus.heartbeat(makeNode(2), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 150));

    expect(response.json()).toMatchObject({ node: 'node-1', url: makeNode(1).url });
    expect(membership.ring.nodes).toEqual(['node-1']);
  });
});
