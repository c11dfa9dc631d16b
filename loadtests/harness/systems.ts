/**
 * The systems under test: each starts its server processes on loopback, prepares pairs of
 * users whose sender and receiver sit on different server processes where the system has
 * more than one, and stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  startClusterProcesses,
  type ClusterProcesses,
} from '../../services/launcher/src/cluster-processes.ts';
import type { WorkerPair } from './load-worker.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** A running system under test. */
export interface SystemUnderTest {
  /** Short key used in the JSON results, such as `switchboard-embedded`. */
  key: string;
  /** Name for tables and the plot. */
  label: string;
  /** Processes whose CPU and memory count as the server's. */
  serverPids(): number[];
  pairs: WorkerPair[];
  stop(): Promise<void>;
}

/** Starts a child process and resolves when one of its stdout lines matches `ready`. */
export async function spawnUntil(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(args[0]!, args.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const match = await new Promise<RegExpExecArray>((resolveMatch, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output.slice(-2000)}`));
    }, timeoutMs);
    // Some servers (Centrifugo) log to stderr, so both streams are searched.
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = ready.exec(output);
      if (found) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolveMatch(found);
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output.slice(-2000)}`));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
  // Keep draining the pipes so a chatty server never blocks on a full pipe.
  child.stdout!.removeAllListeners('data');
  child.stderr!.removeAllListeners('data');
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, match };
}

/** Sends SIGTERM and waits for the exit, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function postJson(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${url} failed: ${response.status} ${await response.text()}`);
  return response.json();
}

interface RoutedUser {
  id: string;
  token: string;
  url: string;
  node: string;
}

async function registerRouted(apiUrl: string, routerUrl: string, username: string): Promise<RoutedUser> {
  const session = (await postJson(`${apiUrl}/v1/auth/register`, {
    username,
    password: 'bench-password',
  })) as { user: { id: string }; accessToken: string };
  const response = await fetch(`${routerUrl}/v1/route`, {
    headers: { authorization: `Bearer ${session.accessToken}` },
  });
  if (!response.ok) throw new Error(`GET /v1/route failed: ${response.status} ${await response.text()}`);
  const route = (await response.json()) as { url: string; node: string };
  return { id: session.user.id, token: session.accessToken, url: route.url, node: route.node };
}

/**
 * Registers users until two chat nodes own `count` each, and pairs them so that every
 * sender and its receiver live on different nodes, alternating the direction.
 */
async function buildSwitchboardPairs(
  apiUrl: string,
  routerUrl: string,
  count: number,
  namePrefix: string,
): Promise<WorkerPair[]> {
  const byNode = new Map<string, RoutedUser[]>();
  const enough = () => {
    const sizes = [...byNode.values()].map((users) => users.length).sort((a, b) => b - a);
    return sizes.length >= 2 && sizes[1]! >= count;
  };
  for (let n = 0; !enough(); n++) {
    if (n > count * 8) throw new Error('users do not spread over two chat nodes');
    const user = await registerRouted(apiUrl, routerUrl, `${namePrefix}${n}`);
    byNode.set(user.node, [...(byNode.get(user.node) ?? []), user]);
  }
  const [left, right] = [...byNode.values()].sort((a, b) => b.length - a.length) as [
    RoutedUser[],
    RoutedUser[],
  ];
  return Array.from({ length: count }, (_, i) => {
    const [sender, receiver] = i % 2 === 0 ? [left[i]!, right[i]!] : [right[i]!, left[i]!];
    return {
      sender: { protocol: 'switchboard', url: sender.url, userId: sender.id, token: sender.token },
      receiver: { protocol: 'switchboard', url: receiver.url, userId: receiver.id, token: receiver.token },
    };
  });
}

/** Limits raised for load generation: each harness user sends far more than a person. */
export const BENCH_POLICY_ENV = {
  SWB_FRAMES_PER_SECOND: '100000',
  SWB_LOG_LEVEL: 'warn',
};

/** Starts the embedded profile: one process with the API, the router, two chat nodes, the file log and SQLite. */
export async function startSwitchboardEmbedded(pairCount: number): Promise<SystemUnderTest> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  let started: Awaited<ReturnType<typeof spawnUntil>>;
  try {
    started = await spawnUntil(
      'embedded cluster',
      [process.execPath, '--import', 'tsx', 'services/launcher/src/main.ts'],
      { ...BENCH_POLICY_ENV, SWB_DATA_DIR: dataDir, SWB_HTTP_PORT: '0', SWB_CHAT_PORT_BASE: '0' },
      /API and router:\s+(\S+)/,
    );
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const { child, match } = started;
  try {
    return await attachSwitchboardEmbedded(match[1]!, child, pairCount, async () => {
      await stopChild(child);
      rmSync(dataDir, { recursive: true, force: true });
    });
  } catch (err) {
    await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** Registers pairs on an embedded-profile process that the caller started and will stop. */
export async function attachSwitchboardEmbedded(
  apiUrl: string,
  child: ChildProcess,
  pairCount: number,
  stop: () => Promise<void>,
): Promise<SystemUnderTest> {
  const pairs = await buildSwitchboardPairs(apiUrl, apiUrl, pairCount, 'bench');
  return {
    key: 'switchboard-embedded',
    label: 'Switchboard embedded',
    serverPids: () => [child.pid!],
    pairs,
    stop,
  };
}

/**
 * Starts the cluster profile: router, API, two chat nodes and the persister as separate processes
 * against the local Redis, Kafka and Cassandra (`deploy/local/infra.sh up`). The bench uses
 * its own Redis key prefix, Kafka topic and Cassandra keyspace, and fresh user names per run.
 */
export async function startSwitchboardCluster(
  pairCount: number,
  chatNodeArgs: string[] = [],
): Promise<SystemUnderTest & { processes: ClusterProcesses }> {
  const logDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-cluster-'));
  const runId = Date.now().toString(36);
  const cluster: ClusterProcesses = await startClusterProcesses({
    env: {
      ...BENCH_POLICY_ENV,
      // The launcher learns that a process is ready from its info-level 'service ready' line.
      SWB_LOG_LEVEL: 'info',
      SWB_TOKEN_SECRET: randomBytes(48).toString('base64url'),
      SWB_REDIS_KEY_PREFIX: 'swbbench:',
      // A topic and persister group per run, so that no earlier run's records or consumers
      // share the broker with this one.
      SWB_KAFKA_TOPIC: `switchboard.bench-${runId}`,
      SWB_PERSISTER_GROUP: `bench-persister-${runId}`,
      SWB_CASSANDRA_KEYSPACE: 'switchboard_bench',
    },
    chatNodeArgs,
    chatNodes: 2,
    logDir,
    readyTimeoutMs: 120_000,
  });
  try {
    const pairs = await buildSwitchboardPairs(cluster.apiUrl, cluster.routerUrl, pairCount, `b${runId}n`);
    return {
      key: 'switchboard-cluster',
      label: 'Switchboard cluster',
      serverPids: () => cluster.chatNodes.map((node) => node.pid),
      pairs,
      processes: cluster,
      async stop() {
        await cluster.stop();
        rmSync(logDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Starts the bare uWebSockets.js relay as one process, since it has no routing between processes. */
export async function startRelay(pairCount: number): Promise<SystemUnderTest> {
  const { child, match } = await spawnUntil(
    'relay',
    [process.execPath, '--import', 'tsx', 'loadtests/peers/relay/relay-server.ts'],
    {},
    /"port":(\d+)/,
  );
  const url = `ws://127.0.0.1:${match[1]}/ws`;
  const pairs: WorkerPair[] = Array.from({ length: pairCount }, (_, i) => ({
    sender: { protocol: 'relay', url, userId: `relay-s${i}` },
    receiver: { protocol: 'relay', url, userId: `relay-r${i}` },
  }));
  return {
    key: 'relay',
    label: 'bare uWS relay',
    serverPids: () => [child.pid!],
    pairs,
    stop: () => stopChild(child),
  };
}

/** Starts Socket.IO with the Redis adapter as two server processes, with each sender and its receiver on different ones. */
export async function startSocketIo(pairCount: number, redisUrl: string): Promise<SystemUnderTest> {
  const servers: Array<{ child: ChildProcess; url: string }> = [];
  try {
    for (let i = 0; i < 2; i++) {
      const { child, match } = await spawnUntil(
        `socket.io server ${i + 1}`,
        [process.execPath, '--import', 'tsx', 'loadtests/peers/socketio/socketio-server.ts'],
        { SWB_REDIS_URL: redisUrl },
        /"port":(\d+)/,
      );
      servers.push({ child, url: `http://127.0.0.1:${match[1]}` });
    }
  } catch (err) {
    await Promise.all(servers.map((server) => stopChild(server.child)));
    throw err;
  }
  const pairs: WorkerPair[] = Array.from({ length: pairCount }, (_, i) => {
    const [a, b] = i % 2 === 0 ? [servers[0]!, servers[1]!] : [servers[1]!, servers[0]!];
    return {
      sender: { protocol: 'socketio', url: a.url, userId: `sio-s${i}` },
      receiver: { protocol: 'socketio', url: b.url, userId: `sio-r${i}` },
    };
  });
  return {
    key: 'socketio',
    label: 'Socket.IO + Redis adapter',
    serverPids: () => servers.map((server) => server.child.pid!),
    pairs,
    stop: async () => {
      await Promise.all(servers.map((server) => stopChild(server.child)));
    },
  };
}

/** Signs an HS256 JWT with `sub` = `user`, as Centrifugo's connect token. */
export function signCentrifugoToken(user: string, secret: string, ttlSeconds = 3600): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({
    sub: user,
    exp: Math.floor(Date.now() / 1000) + ttlSeconds,
  })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

/**
 * Starts Centrifugo v6 as two nodes sharing its Redis engine, with history on the `chat`
 * namespace, so that every publication is kept in Redis (size 100, 300 s) before the publish
 * reply is sent.
 * Clients publish over the client protocol into the recipient's channel; see chat-clients.ts.
 */
export async function startCentrifugo(
  pairCount: number,
  binary: string,
  redisUrl: string,
): Promise<SystemUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-centrifugo-'));
  const secret = randomBytes(32).toString('hex');
  const servers: Array<{ child: ChildProcess; url: string }> = [];
  try {
    for (let i = 0; i < 2; i++) {
      const port = await findFreePort();
      const config = join(dir, `node-${i + 1}.json`);
      writeFileSync(config, JSON.stringify(buildCentrifugoConfig(port, secret, redisUrl), null, 2));
      const { child } = await spawnUntil(
        `centrifugo node ${i + 1}`,
        [binary, '--config', config],
        {},
        /serving websocket|http server started|starting HTTP/i,
      );
      servers.push({ child, url: `ws://127.0.0.1:${port}/connection/websocket` });
    }
  } catch (err) {
    await Promise.all(servers.map((server) => stopChild(server.child)));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = (url: string, userId: string) => ({
    protocol: 'centrifugo' as const,
    url,
    userId,
    token: signCentrifugoToken(userId, secret),
  });
  const pairs: WorkerPair[] = Array.from({ length: pairCount }, (_, i) => {
    const [a, b] = i % 2 === 0 ? [servers[0]!, servers[1]!] : [servers[1]!, servers[0]!];
    return { sender: endpoint(a.url, `cf-s${i}`), receiver: endpoint(b.url, `cf-r${i}`) };
  });
  return {
    key: 'centrifugo',
    label: 'Centrifugo + Redis, history',
    serverPids: () => servers.map((server) => server.child.pid!),
    pairs,
    stop: async () => {
      await Promise.all(servers.map((server) => stopChild(server.child)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Centrifugo v6 configuration of one bench node. */
export function buildCentrifugoConfig(port: number, secret: string, redisUrl: string): unknown {
  return {
    log: { level: 'info' },
    http_server: { address: '127.0.0.1', port },
    client: {
      token: { hmac_secret_key: secret },
      allowed_origins: ['*'],
    },
    engine: {
      type: 'redis',
      redis: { address: [redisUrl], prefix: 'swb-bench-centrifugo' },
    },
    channel: {
      namespaces: [
        {
          name: 'chat',
          history_size: 100,
          history_ttl: '300s',
          allow_subscribe_for_client: true,
          allow_publish_for_client: true,
        },
      ],
    },
  };
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
async function findFreePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}
