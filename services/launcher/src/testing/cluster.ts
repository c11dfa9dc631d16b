import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@switchboard/core';
import {
  startEmbeddedCluster,
  type EmbeddedCluster,
  type EmbeddedClusterOptions,
} from '../embedded-cluster.ts';

export interface TestCluster extends EmbeddedCluster {
  dataDir: string;
  /** Stops the cluster and deletes its data directory. */
  destroy(): Promise<void>;
}

/** Starts an embedded cluster on free loopback ports with a fresh data directory. */
export async function startTestCluster(
  overrides: Partial<EmbeddedClusterOptions> = {},
): Promise<TestCluster> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  const cluster = await startEmbeddedCluster({
    dataDir,
    host: '127.0.0.1',
    httpPort: 0,
    chatNodes: 2,
    chatPortBase: 0,
    tokenSecret: 'test-secret-test-secret-test-secret-0123456789',
    heartbeatIntervalMs: 200,
    heartbeatTtlMs: 600,
    logger: createLogger('test', { level: process.env.SWB_TEST_LOG_LEVEL ?? 'silent' }),
    ...overrides,
    policy: { rebalanceWindowMs: 200, drainWindowMs: 200, ...overrides.policy },
  });
  return {
    ...cluster,
    dataDir,
    async destroy() {
      await cluster.stop();
      if (overrides.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestUser {
  id: string;
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

/** Registers a user through the HTTP API. */
export async function registerUser(
  apiUrl: string,
  username: string,
  password = 'correct-horse-1',
): Promise<TestUser> {
  const response = await fetch(`${apiUrl}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 201)
    throw new Error(`register ${username} failed: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as {
    user: { id: string; username: string };
    accessToken: string;
    refreshToken: string;
  };
  return {
    id: body.user.id,
    username,
    password,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
  };
}

/** Asks the router for the user's chat node. */
export async function routeFor(
  apiUrl: string,
  accessToken: string,
): Promise<{ node: string; url: string; ringVersion: string }> {
  const response = await fetch(`${apiUrl}/v1/route`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (response.status !== 200) throw new Error(`route failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { node: string; url: string; ringVersion: string };
}

/** Registers users until two of them live on different chat nodes, and returns that pair. */
export async function registerOnDifferentNodes(
  apiUrl: string,
  prefix: string,
): Promise<[TestUser, TestUser]> {
  const first = await registerUser(apiUrl, `${prefix}a`);
  const firstNode = (await routeFor(apiUrl, first.accessToken)).node;
  for (let i = 0; i < 40; i++) {
    const candidate = await registerUser(apiUrl, `${prefix}b${i}`);
    if ((await routeFor(apiUrl, candidate.accessToken)).node !== firstNode) return [first, candidate];
  }
  throw new Error('no two users landed on different nodes in 40 tries');
}

/** Polls `check` until it returns true, or fails with `message` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  message: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
