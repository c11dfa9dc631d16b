import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@switchboard/core';
import { startEmbeddedCluster, type EmbeddedCluster } from '@switchboard/launcher';
import { buildWebClient, registerWebClient } from '../server/index.ts';

/** An embedded cluster that serves a fresh build of the web client at `/`. */
export interface WebCluster {
  cluster: EmbeddedCluster;
  origin: string;
  stop(): Promise<void>;
}

/** What the cluster's /v1/push routes serve: the embedded cluster's `push` option. */
export type WebPushRoutes = NonNullable<Parameters<typeof startEmbeddedCluster>[0]['push']>;

/**
 * Builds the web client into a temporary directory and starts an embedded cluster with two
 * chat nodes on free loopback ports that serves it. The build never touches
 * services/web/dist, so a running `make start` keeps its files. `push` turns on the push
 * routes' Web Push (off by default).
 */
export async function startWebCluster(options: { push?: WebPushRoutes } = {}): Promise<WebCluster> {
  const scratch = mkdtempSync(join(tmpdir(), 'switchboard-web-e2e-'));
  const distDir = join(scratch, 'dist');
  try {
    await buildWebClient(distDir);
    const cluster = await startEmbeddedCluster({
      dataDir: join(scratch, 'data'),
      host: '127.0.0.1',
      httpPort: 0,
      chatNodes: 2,
      chatPortBase: 0,
      heartbeatIntervalMs: 200,
      heartbeatTtlMs: 600,
      logger: createLogger('web-e2e', { level: process.env.SWB_TEST_LOG_LEVEL ?? 'silent' }),
      configureHttp: (app) => registerWebClient(app, distDir),
      ...(options.push === undefined ? {} : { push: options.push }),
    });
    return {
      cluster,
      origin: cluster.apiUrl,
      async stop() {
        await cluster.stop();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}

/** A user registered through the HTTP API. */
export interface ApiUser {
  id: string;
  username: string;
  password: string;
  accessToken: string;
}

export async function registerUser(origin: string, username: string): Promise<ApiUser> {
  const password = `${username}-secret`;
  const response = await fetch(`${origin}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 201) {
    throw new Error(`registering ${username} failed with HTTP ${response.status}: ${await response.text()}`);
  }
  const body = (await response.json()) as { user: { id: string }; accessToken: string };
  return { id: body.user.id, username, password, accessToken: body.accessToken };
}

/** Returns the chat node that the router assigns to the holder of `accessToken`. */
export async function nodeOf(origin: string, accessToken: string): Promise<string> {
  const response = await fetch(`${origin}/v1/route`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (response.status !== 200) throw new Error(`GET /v1/route failed with HTTP ${response.status}`);
  return ((await response.json()) as { node: string }).node;
}

/** Registers users named `<prefix>NN` until one lands on another chat node than `node`. */
export async function registerOnOtherNode(origin: string, prefix: string, node: string): Promise<ApiUser> {
  for (let i = 0; i < 40; i++) {
    const user = await registerUser(origin, `${prefix}${i}`);
    if ((await nodeOf(origin, user.accessToken)) !== node) return user;
  }
  throw new Error(`no user of 40 named ${prefix}NN landed on another node than ${node}`);
}

/** Reads every stored message of a conversation through the history API, oldest first. */
export async function readHistory(
  origin: string,
  user: ApiUser,
  conv: string,
): Promise<Array<{ seq: number; from: string; body: string }>> {
  const messages: Array<{ seq: number; from: string; body: string }> = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? 'limit=100' : `limit=100&cursor=${encodeURIComponent(cursor)}`;
    const response = await fetch(`${origin}/v1/conversations/${encodeURIComponent(conv)}/messages?${query}`, {
      headers: { authorization: `Bearer ${user.accessToken}` },
    });
    if (response.status !== 200) throw new Error(`history of ${conv} failed with HTTP ${response.status}`);
    const page = (await response.json()) as {
      messages: Array<{ seq: number; from: string; body: string }>;
      nextCursor: string | null;
    };
    messages.push(...page.messages);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return messages.sort((a, b) => a.seq - b.seq);
}

/** Returns the unread count of a conversation as the API reports it to `user`. */
export async function unreadOnServer(origin: string, user: ApiUser, conv: string): Promise<number | null> {
  const response = await fetch(`${origin}/v1/conversations`, {
    headers: { authorization: `Bearer ${user.accessToken}` },
  });
  if (response.status !== 200) throw new Error(`GET /v1/conversations failed with HTTP ${response.status}`);
  const body = (await response.json()) as { conversations: Array<{ id: string; unread: number }> };
  return body.conversations.find((conversation) => conversation.id === conv)?.unread ?? null;
}
