import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cassandra from 'cassandra-driver';
import { createLogger, type DurableLog, type PushJob } from '@switchboard/core';
import { connectPushJobLog, readClusterConfig } from '@switchboard/cluster';
import {
  buildPolicyEnv,
  buildRealtimeEnv,
  type ConnectionPolicy,
  type RealtimePolicy,
} from '@switchboard/chat-node';
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
  /**
   * Restarts the node as a rolling restart does: drains it (SIGTERM in the cluster profile),
   * then starts it again with the same id and resolves once it reports ready.
   */
  restart(): Promise<void>;
}

/** An origin that serves GET /metrics, /healthz and /readyz, and the process behind it. */
export interface OperationsEndpoint {
  /** `embedded`, `router`, `api`, `persister` or a chat node id. */
  name: string;
  /** HTTP origin, such as http://127.0.0.1:8080. */
  url: string;
}

export interface TestClusterOptions {
  /** Reuse the data of an earlier cluster: a directory (embedded) or a name for keys, topic and keyspace (cluster). */
  dataDir?: string;
  chatNodes?: number;
  policy?: Partial<ConnectionPolicy>;
  /** Notices, presence and typing settings of the chat nodes. */
  realtime?: Partial<RealtimePolicy>;
  /** Member count above which a group is large; 1,000 by default. */
  largeGroupThreshold?: number;
}

export interface TestCluster {
  profile: 'embedded' | 'cluster';
  apiUrl: string;
  routerUrl: string;
  nodes: TestNode[];
  /** The service processes, in the cluster profile only. */
  processes?: ClusterProcesses;
  /** The origins that serve /metrics, /healthz and /readyz: one per process. */
  operationsEndpoints(): OperationsEndpoint[];
  /**
   * Opens the push-jobs log the chat nodes append to: the cluster's own FileLog (embedded) or a
   * new client of its Kafka topic (cluster). Close it before the cluster stops.
   */
  openPushJobs(): Promise<{ log: DurableLog<PushJob>; close(): Promise<void> }>;
  /** Stops the cluster and keeps its data. */
  stop(): Promise<void>;
  /** Stops the cluster and deletes data it created itself. */
  destroy(): Promise<void>;
}

const FAST_POLICY: Partial<ConnectionPolicy> = { rebalanceWindowMs: 200, drainWindowMs: 200 };

/**
 * Heartbeat settings of the test clusters' chat nodes. A TTL under the default (3 s) lets a
 * crashed node leave the ring soon. A 600 ms TTL expired live nodes on a busy CI machine, and
 * the user's new owner, which had none of the user's connections, appended push jobs.
 */
const TEST_HEARTBEAT = { intervalMs: 250, ttlMs: 2000 };

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
    heartbeatIntervalMs: TEST_HEARTBEAT.intervalMs,
    heartbeatTtlMs: TEST_HEARTBEAT.ttlMs,
    logger: createLogger('test', { level: process.env.SWB_TEST_LOG_LEVEL ?? 'silent' }),
    policy,
    ...(options.realtime === undefined ? {} : { realtime: options.realtime }),
    ...(options.largeGroupThreshold === undefined
      ? {}
      : { largeGroupThreshold: options.largeGroupThreshold }),
  });
  // A restart replaces the ChatNode object in cluster.nodes, so each call looks it up by id.
  const current = (id: string) => cluster.nodes.find((node) => node.id === id)!;
  return {
    profile: 'embedded',
    apiUrl: cluster.apiUrl,
    routerUrl: cluster.apiUrl,
    nodes: cluster.nodes.map(({ id }) => ({
      id,
      get url() {
        return current(id).url;
      },
      stop: () => current(id).stop(),
      crash: () => cluster.crashNode(current(id)),
      restart: async () => {
        await cluster.restartNode(id);
      },
    })),
    operationsEndpoints: () => [{ name: 'embedded', url: cluster.apiUrl }],
    openPushJobs: async () => ({ log: cluster.pushLogs.jobs, close: async () => {} }),
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
  const pushTopics = {
    SWB_KAFKA_PUSH_TOPIC: `t-${name}-push`,
    SWB_KAFKA_PUSH_DEAD_TOPIC: `t-${name}-push-dead`,
  };
  const processes = await startClusterProcesses({
    env: {
      ...pushTopics,
      SWB_TOKEN_SECRET: TEST_TOKEN_SECRET,
      SWB_REDIS_KEY_PREFIX: `t${name}:`,
      SWB_KAFKA_TOPIC: `t-${name}`,
      // Kafka shares a group id across topics, so each cluster gets its own persister group.
      SWB_PERSISTER_GROUP: `p-${name}`,
      SWB_KAFKA_PARTITIONS: '4',
      SWB_CASSANDRA_KEYSPACE: `t_${name}`,
      SWB_HEARTBEAT_INTERVAL_MS: String(TEST_HEARTBEAT.intervalMs),
      SWB_HEARTBEAT_TTL_MS: String(TEST_HEARTBEAT.ttlMs),
      SWB_LOG_LEVEL: process.env.SWB_TEST_LOG_LEVEL ?? 'info',
      ...buildPolicyEnv(policy),
      ...buildRealtimeEnv(options.realtime ?? {}),
      ...(options.largeGroupThreshold === undefined
        ? {}
        : { SWB_LARGE_GROUP_THRESHOLD: String(options.largeGroupThreshold) }),
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
    restart: async () => {
      await processes.chatNodes[index]!.stop();
      await processes.restart(processes.chatNodes[index]!);
    },
  });
  return {
    profile: 'cluster',
    apiUrl: processes.apiUrl,
    routerUrl: processes.routerUrl,
    nodes: processes.chatNodes.map((_, index) => nodeOf(index)),
    processes,
    operationsEndpoints: () => [
      { name: 'router', url: processes.routerUrl },
      { name: 'api', url: processes.apiUrl },
      { name: 'persister', url: processes.persister.operationsUrl },
      ...processes.chatNodes.map((proc, index) => ({
        name: `node-${index + 1}`,
        url: proc.address.replace(/^ws/, 'http').replace(/\/ws$/, ''),
      })),
    ],
    async openPushJobs() {
      const logger = createLogger('test', { level: process.env.SWB_TEST_LOG_LEVEL ?? 'silent' });
      const log = await connectPushJobLog(
        readClusterConfig({ ...process.env, ...pushTopics }),
        logger,
        `test-${name}`,
      );
      return { log, close: () => log.close() };
    },
    stop: () => processes.stop(),
    async destroy() {
      await processes.stop();
      if (options.dataDir === undefined) {
        // SWB_TEST_KEEP_LOGS=1 keeps the process logs for a look at a failed run.
        if (process.env.SWB_TEST_KEEP_LOGS === '1') console.info(`cluster logs kept in ${logDir}`);
        else rmSync(logDir, { recursive: true, force: true });
        await dropKeyspace(`t_${name}`);
      }
    },
  };
}

/**
 * Drops the keyspace of a finished test cluster. Every cluster start creates one, and the local
 * Cassandra of deploy/local (1 GiB heap) ran out of memory holding about 1,400 leftover tables.
 */
async function dropKeyspace(keyspace: string): Promise<void> {
  const client = new cassandra.Client({
    contactPoints: (process.env.SWB_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042').split(','),
    localDataCenter: process.env.SWB_CASSANDRA_DC ?? 'datacenter1',
  });
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 60_000 });
  } catch (err) {
    // A leftover keyspace costs memory, not correctness, so the test result stands.
    console.warn(`could not drop test keyspace ${keyspace}: ${(err as Error).message}`);
  } finally {
    await client.shutdown();
  }
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
