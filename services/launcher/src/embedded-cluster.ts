import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  createLogger,
  DependencyProbe,
  generateRequestId,
  GroupService,
  handleClientError,
  type Logger,
  MembershipView,
  Messenger,
  NodeHeartbeat,
  type PushRegistry,
  Readiness,
  READINESS_PROBE_CONVERSATION,
  registerErrorHandler,
  TokenIssuer,
} from '@switchboard/core';
import { FileLog, InProcessBus, openPushLogs, openSqlite, type PushLogs } from '@switchboard/embedded';
import { apiRoutes, readPushRoutesConfig, registerApiDocs, type PushRoutesConfig } from '@switchboard/api';
import { ChatNode, type ConnectionPolicy, type RealtimePolicy } from '@switchboard/chat-node';
import { LagMonitor, MeasuredLog, registerHttpOperations, SwitchboardMetrics } from '@switchboard/metrics';
import { Persister, PERSISTER_GROUP } from '@switchboard/persister';
import {
  createConfiguredProviders,
  PUSH_WORKER_GROUP,
  PushWorker,
  type PushProvidersConfig,
  type PushWorkerSettings,
} from '@switchboard/push-worker';
import { buildRingCondition, routerRoutes } from '@switchboard/router';

export interface EmbeddedClusterOptions {
  /** Directory for the SQLite database, the log and the token secret. */
  dataDir: string;
  host: string;
  /** HTTP port of the API and the router; 0 picks a free port. */
  httpPort: number;
  /** Number of chat nodes; at least 1. */
  chatNodes: number;
  /** Port of the first chat node; the others follow it. 0 picks free ports. */
  chatPortBase: number;
  /** HMAC secret of access tokens; generated and kept in the data directory when unset. */
  tokenSecret?: string;
  accessTtlSeconds?: number;
  refreshTtlSeconds?: number;
  /** Membership heartbeat period and TTL, in milliseconds. */
  heartbeatIntervalMs?: number;
  heartbeatTtlMs?: number;
  policy?: Partial<ConnectionPolicy>;
  /** Notices, presence and typing settings of the chat nodes. */
  realtime?: Partial<RealtimePolicy>;
  /** Member count above which a group is large; 1,000 by default. */
  largeGroupThreshold?: number;
  logger?: Logger;
  /** Extra routes on the HTTP app, such as the web client's static files. */
  configureHttp?: (app: FastifyInstance) => Promise<void> | void;
  /** Milliseconds between samples of the persister's lag, 5000 by default. */
  lagIntervalMs?: number;
  /** Settings of the /v1/push routes; Web Push, FCM and APNs are off by default. */
  push?: PushRoutesConfig;
  /**
   * Providers and delivery settings of the push worker in this process. Without providers it
   * consumes the push-jobs log and drops every job (`no_provider`); `false` leaves the worker
   * out, so the jobs stay in the log.
   */
  pushWorker?: { providers?: PushProvidersConfig; settings?: Partial<PushWorkerSettings> } | false;
}

/**
 * Pause of the persister after a short batch. At 4,000 messages/s it cut the persister's share of
 * the event loop by half (about 100 SQLite transactions a second became 25), since the same
 * thread serves the chat nodes. The store lags the log by up to this much more.
 */
const PERSISTER_BATCH_DELAY_MS = 25;

/** A running embedded cluster and the handles tests need. */
export interface EmbeddedCluster {
  apiUrl: string;
  nodes: ChatNode[];
  http: FastifyInstance;
  bus: InProcessBus;
  tokens: TokenIssuer;
  /** The process's metrics, served at GET /metrics on the HTTP app. */
  metrics: SwitchboardMetrics;
  /**
   * The push-jobs log that the chat nodes append to, and its dead-letter log. A push worker in
   * this process consumes them; they close when the cluster stops.
   */
  pushLogs: PushLogs;
  /** Push subscriptions and settings, in the SQLite database. */
  pushRegistry: PushRegistry;
  /** The push worker consuming `pushLogs.jobs`, or null when `pushWorker` was false. */
  pushWorker: PushWorker | null;
  /** Stops one chat node as a crash would: no drain, no leave; its membership entry expires. */
  crashNode(node: ChatNode): Promise<void>;
  /**
   * Restarts chat node `id` as a rolling restart does: drains it (unless it crashed), then
   * starts a new node with the same id, which replaces it in `nodes`, and waits until the ring
   * has it again.
   */
  restartNode(id: string): Promise<ChatNode>;
  stop(): Promise<void>;
}

/**
 * Starts the embedded profile in this process: an in-process bus, a file-backed log,
 * SQLite storage, the persister, the push worker, `chatNodes` chat nodes, and one HTTP app
 * serving the API and the router.
 */
export async function startEmbeddedCluster(options: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
  const logger = options.logger ?? createLogger('switchboard');
  if (!Number.isInteger(options.chatNodes) || options.chatNodes < 1) {
    throw new Error(`chatNodes must be a positive integer, got ${options.chatNodes}`);
  }
  mkdirSync(options.dataDir, { recursive: true });

  const tokens = new TokenIssuer({
    secret: options.tokenSecret ?? loadOrCreateSecret(options.dataDir),
    accessTtlSeconds: options.accessTtlSeconds ?? 900,
    refreshTtlSeconds: options.refreshTtlSeconds ?? 30 * 24 * 3600,
  });
  const bus = new InProcessBus();
  const log = await FileLog.open({
    dir: join(options.dataDir, 'log'),
    batchDelayMs: PERSISTER_BATCH_DELAY_MS,
  });
  const sqlite = openSqlite(join(options.dataDir, 'switchboard.db'));
  const pushLogs = await openPushLogs(options.dataDir, logger);
  // One registry for the whole process, as every service runs in it.
  const metrics = new SwitchboardMetrics();
  const pushProviders =
    options.pushWorker === false
      ? []
      : createConfiguredProviders(options.pushWorker?.providers ?? {}, logger);
  const pushWorker =
    options.pushWorker === false
      ? null
      : new PushWorker({
          jobs: pushLogs.jobs,
          deadLetters: pushLogs.dead,
          registry: sqlite.push,
          users: sqlite.store,
          providers: pushProviders,
          logger,
          metrics,
          settings: options.pushWorker?.settings,
        });
  const persister = new Persister({ log, store: sqlite.store, logger, metrics });
  await persister.start();
  await pushWorker?.start();
  const pushLag =
    pushWorker === null
      ? null
      : new LagMonitor({
          read: () => pushLogs.jobs.lag(PUSH_WORKER_GROUP),
          gauge: metrics.pushLag,
          intervalMs: options.lagIntervalMs ?? 5000,
          logger,
        });
  await pushLag?.start();
  const logProbe = new DependencyProbe({ name: 'log', check: () => log.lag(PERSISTER_GROUP), logger });
  const lag = new LagMonitor({
    read: () => log.lag(PERSISTER_GROUP),
    gauge: metrics.persisterLag,
    intervalMs: options.lagIntervalMs ?? 5000,
    probe: logProbe,
    logger,
  });
  await lag.start();

  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1000;
  const heartbeatTtlMs = options.heartbeatTtlMs ?? 3000;
  const membership = new MembershipView({ bus, logger, refreshMs: heartbeatIntervalMs });
  await membership.start();
  metrics.watchRing(membership);
  const dependencies = [
    new DependencyProbe({ name: 'bus', check: () => bus.members(), logger }),
    logProbe,
    new DependencyProbe({
      name: 'store',
      check: () => sqlite.store.maxSeq(READINESS_PROBE_CONVERSATION),
      logger,
    }),
  ];
  // Appends are timed only in the cluster profile, where they are Kafka produce requests.
  const measuredLog = new MeasuredLog(log, { probe: logProbe });

  const startNode = async (index: number): Promise<ChatNode> => {
    const messenger = new Messenger({
      store: sqlite.store,
      sequencer: sqlite.sequencer,
      log: measuredLog,
      logger,
      persisterGroup: PERSISTER_GROUP,
      largeGroupThreshold: options.largeGroupThreshold,
    });
    const node = new ChatNode({
      id: `node-${index + 1}`,
      host: options.host,
      port: options.chatPortBase === 0 ? 0 : options.chatPortBase + index,
      bus,
      placement: membership,
      createHeartbeat: (info) =>
        new NodeHeartbeat({
          bus,
          node: info,
          intervalMs: heartbeatIntervalMs,
          ttlMs: heartbeatTtlMs,
          logger,
        }),
      messenger,
      tokens,
      logger,
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.realtime ? { realtime: options.realtime } : {}),
      metrics,
      // The HTTP app serves the one registry; each chat port would serve the same text.
      serveMetrics: false,
      dependencies,
      pushJobs: pushLogs.jobs,
    });
    await node.start();
    return node;
  };

  const nodes: ChatNode[] = [];
  for (let i = 0; i < options.chatNodes; i++) nodes.push(await startNode(i));
  await membership.refresh();

  const http = Fastify({
    // One line per request at info would bury everything else, so this logger starts at
    // warn; failed requests are still logged.
    loggerInstance: logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 16 * 1024,
    genReqId: generateRequestId,
    clientErrorHandler: handleClientError,
  });
  registerErrorHandler(http);
  // The API's plugin below serves /healthz.
  registerHttpOperations(http, {
    metrics,
    readiness: new Readiness({ probes: dependencies, conditions: [buildRingCondition(membership)] }),
    healthRoute: false,
  });
  // One OpenAPI document at /docs for both the router and the API routes on this origin.
  await registerApiDocs(http);
  await http.register(routerRoutes, { membership, tokens });
  await http.register(apiRoutes, {
    store: sqlite.store,
    tokens,
    docs: false,
    awaitPersisted: () => log.awaitConsumed(PERSISTER_GROUP, 2000),
    groups: new GroupService({
      store: sqlite.store,
      sequencer: sqlite.sequencer,
      log: measuredLog,
      bus,
      logger,
      largeGroupThreshold: options.largeGroupThreshold,
    }),
    bus,
    logger,
    push: { registry: sqlite.push, config: options.push ?? readPushRoutesConfig({}) },
  });
  await options.configureHttp?.(http);
  const address = await http.listen({ host: options.host, port: options.httpPort });
  const apiUrl = address.replace('[::1]', '127.0.0.1');
  logger.info({ apiUrl, nodes: nodes.map((node) => node.url) }, 'embedded cluster ready');

  const crashed = new Set<ChatNode>();
  return {
    apiUrl,
    nodes,
    http,
    bus,
    tokens,
    metrics,
    pushLogs,
    pushRegistry: sqlite.push,
    pushWorker,
    async crashNode(node) {
      crashed.add(node);
      await node.crash();
    },
    async restartNode(id) {
      const index = nodes.findIndex((node) => node.id === id);
      if (index < 0) {
        throw new Error(`no chat node ${id}; the nodes are ${nodes.map((node) => node.id).join(', ')}`);
      }
      const previous = nodes[index]!;
      if (!crashed.has(previous)) await previous.stop();
      const next = await startNode(index);
      nodes[index] = next;
      await membership.refresh();
      logger.info({ node: id, url: next.url }, 'chat node restarted');
      return next;
    },
    async stop() {
      await closeHttp(http);
      for (const node of nodes) if (!crashed.has(node)) await node.stop();
      await membership.stop();
      await lag.stop();
      await pushLag?.stop();
      await persister.stop();
      await pushWorker?.stop();
      await Promise.all(pushProviders.map((provider) => provider.close()));
      await pushLogs.close();
      await log.close();
      await sqlite.close();
      await bus.close();
    },
  };
}

/**
 * Closes the HTTP app and cuts the connections still open after `graceMs`. Fastify waits for
 * every open request, and a client that left one open held a test's cluster stop past 30 s.
 */
async function closeHttp(http: FastifyInstance, graceMs = 2000): Promise<void> {
  const timer = setTimeout(() => http.server.closeAllConnections(), graceMs);
  try {
    await http.close();
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the token secret kept in the data directory, creating it on first start. */
function loadOrCreateSecret(dataDir: string): string {
  const path = join(dataDir, 'token-secret');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}
