import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@switchboard/core';
import { buildPolicyEnv, type ConnectionPolicy } from '@switchboard/chat-node';
import { startEmbeddedCluster } from '../embedded-cluster.ts';
import { startClusterProcesses, type ClusterProcesses, type ServiceProcess } from '../cluster-processes.ts';

/** Profile the integration suites run against: SWB_TEST_PROFILE, `embedded` by default. */
export const TEST_PROFILE = process.env.SWB_TEST_PROFILE === 'cluster' ? 'cluster' : 'embedded';

export const TEST_TOKEN_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A chat node as the tests see it, in either profile. */
export interface TestNode {
  readonly id: string;
  readonly url: string;
  /** Drains the node: it leaves the ring and closes its connections with 4003. */
  stop(): Promise<void>;
  /** Stops the node as a crash would: no drain, no leave. */
  crash(): Promise<void>;
}

export interface TestClusterOptions {
  /** Reuse the data of an earlier cluster: a directory (embedded) or a name for keys, topic and keyspace (cluster). */
  dataDir?: string;
  chatNodes?: number;
  policy?: Partial<ConnectionPolicy>;
}

export interface TestCluster {
  profile: 'embedded' | 'cluster';
  apiUrl: string;
  routerUrl: string;
  nodes: TestNode[];
  /** The service processes, in the cluster profile only. */
  processes?: ClusterProcesses;
  /** Stops the cluster and keeps its data. */
  stop(): Promise<void>;
  /** Stops the cluster and deletes data it created itself. */
  destroy(): Promise<void>;
}

const FAST_POLICY: Partial<ConnectionPolicy> = { rebalanceWindowMs: 200, drainWindowMs: 200 };

/** Starts a cluster of the test profile on free loopback ports with fresh data. */
export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const policy = { ...FAST_POLICY, ...options.policy };
  return TEST_PROFILE === 'cluster' ? startProcesses(options, policy) : startEmbedded(options, policy);
}

async function startEmbedded(
  options: TestClusterOptions,
  policy: Partial<ConnectionPolicy>,
): Promise<TestCluster> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  const cluster = await startEmbeddedCluster({
    dataDir,
    host: '127.0.0.1',
    httpPort: 0,
    chatNodes: options.chatNodes ?? 2,
    chatPortBase: 0,
    tokenSecret: TEST_TOKEN_SECRET,
    heartbeatIntervalMs: 200,
    heartbeatTtlMs: 600,
    logger: createLogger('test', { level: process.env.SWB_TEST_LOG_LEVEL ?? 'silent' }),
    policy,
  });
  return {
    profile: 'embedded',
    apiUrl: cluster.apiUrl,
    routerUrl: cluster.apiUrl,
    nodes: cluster.nodes.map((node) => ({
      id: node.id,
      url: node.url,
      stop: () => node.stop(),
      crash: () => cluster.crashNode(node),
    })),
    stop: () => cluster.stop(),
    async destroy() {
      await cluster.stop();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startProcesses(
  options: TestClusterOptions,
  policy: Partial<ConnectionPolicy>,
): Promise<TestCluster> {
  const name =
    options.dataDir === undefined ? Math.random().toString(36).slice(2, 10) : hashName(options.dataDir);
  const logDir = join(tmpdir(), `switchboard-cluster-${name}`);
  const processes = await startClusterProcesses({
    env: {
      SWB_TOKEN_SECRET: TEST_TOKEN_SECRET,
      SWB_REDIS_KEY_PREFIX: `t${name}:`,
      SWB_KAFKA_TOPIC: `t-${name}`,
      SWB_KAFKA_PARTITIONS: '4',
      SWB_CASSANDRA_KEYSPACE: `t_${name}`,
      SWB_HEARTBEAT_INTERVAL_MS: '200',
      SWB_HEARTBEAT_TTL_MS: '600',
      SWB_LOG_LEVEL: process.env.SWB_TEST_LOG_LEVEL ?? 'info',
      ...buildPolicyEnv(policy),
    },
    chatNodes: options.chatNodes ?? 3,
    logDir,
    readyTimeoutMs: 120_000,
  });
  const nodeOf = (index: number): TestNode => ({
    id: `node-${index + 1}`,
    get url() {
      return processes.chatNodes[index]!.address;
    },
    stop: () => processes.chatNodes[index]!.stop(),
    crash: () => processes.chatNodes[index]!.kill(),
  });
  return {
    profile: 'cluster',
    apiUrl: processes.apiUrl,
    routerUrl: processes.routerUrl,
    nodes: processes.chatNodes.map((_, index) => nodeOf(index)),
    processes,
    stop: () => processes.stop(),
    async destroy() {
      await processes.stop();
      if (options.dataDir === undefined) rmSync(logDir, { recursive: true, force: true });
    },
  };
}

function hashName(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export type { ServiceProcess };

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
  routerUrl: string,
  accessToken: string,
): Promise<{ node: string; url: string; ringVersion: string }> {
  const response = await fetch(`${routerUrl}/v1/route`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  if (response.status !== 200) throw new Error(`route failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { node: string; url: string; ringVersion: string };
}

/** Registers users until two of them live on different chat nodes, and returns that pair. */
export async function registerOnDifferentNodes(
  cluster: TestCluster,
  prefix: string,
): Promise<[TestUser, TestUser]> {
  const first = await registerUser(cluster.apiUrl, `${prefix}a`);
  const firstNode = (await routeFor(cluster.routerUrl, first.accessToken)).node;
  for (let i = 0; i < 40; i++) {
    const candidate = await registerUser(cluster.apiUrl, `${prefix}b${i}`);
    if ((await routeFor(cluster.routerUrl, candidate.accessToken)).node !== firstNode)
      return [first, candidate];
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
