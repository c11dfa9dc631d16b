import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  createLogger,
  MembershipView,
  Messenger,
  NodeHeartbeat,
  registerErrorHandler,
  TokenIssuer,
  type Logger,
} from '@switchboard/core';
import { FileLog, InProcessBus, openSqlite } from '@switchboard/embedded';
import { apiRoutes, registerApiDocs } from '@switchboard/api';
import { ChatNode, type ConnectionPolicy } from '@switchboard/chat-node';
import { Persister, PERSISTER_GROUP } from '@switchboard/persister';
import { routerRoutes } from '@switchboard/router';

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
  logger?: Logger;
  /** Extra routes on the HTTP app, such as the web client's static files. */
  configureHttp?: (app: FastifyInstance) => Promise<void> | void;
}

/** A running embedded cluster and the handles tests need. */
export interface EmbeddedCluster {
  apiUrl: string;
  nodes: ChatNode[];
  http: FastifyInstance;
  bus: InProcessBus;
  tokens: TokenIssuer;
  /** Stops one chat node as a crash would: no drain, no leave; its membership entry expires. */
  crashNode(node: ChatNode): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the embedded profile in this process: an in-process bus, a file-backed log,
 * SQLite storage, the persister, `chatNodes` chat nodes, and one HTTP app serving the API
 * and the router.
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
  const log = await FileLog.open({ dir: join(options.dataDir, 'log') });
  const sqlite = openSqlite(join(options.dataDir, 'switchboard.db'));
  const persister = new Persister({ log, store: sqlite.store, logger });
  await persister.start();

  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1000;
  const heartbeatTtlMs = options.heartbeatTtlMs ?? 3000;
  const membership = new MembershipView({ bus, logger, refreshMs: heartbeatIntervalMs });
  await membership.start();

  const nodes: ChatNode[] = [];
  for (let i = 0; i < options.chatNodes; i++) {
    const messenger = new Messenger({
      store: sqlite.store,
      sequencer: sqlite.sequencer,
      log,
      logger,
      persisterGroup: PERSISTER_GROUP,
    });
    const node = new ChatNode({
      id: `node-${i + 1}`,
      host: options.host,
      port: options.chatPortBase === 0 ? 0 : options.chatPortBase + i,
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
    });
    await node.start();
    nodes.push(node);
  }
  await membership.refresh();

  const http = Fastify({
    // One line per request at info would bury everything else, so this logger starts at
    // warn; failed requests are still logged.
    loggerInstance: logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 16 * 1024,
  });
  registerErrorHandler(http);
  // One OpenAPI document at /docs for both the router and the API routes on this origin.
  await registerApiDocs(http);
  await http.register(routerRoutes, { membership, tokens });
  await http.register(apiRoutes, {
    store: sqlite.store,
    tokens,
    docs: false,
    awaitPersisted: () => log.awaitConsumed(PERSISTER_GROUP, 2000),
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
    async crashNode(node) {
      crashed.add(node);
      await node.crash();
    },
    async stop() {
      await http.close();
      for (const node of nodes) if (!crashed.has(node)) await node.stop();
      await membership.stop();
      await persister.stop();
      await log.close();
      await sqlite.close();
      await bus.close();
    },
  };
}

/** Reads the token secret kept in the data directory, creating it on first start. */
function loadOrCreateSecret(dataDir: string): string {
  const path = join(dataDir, 'token-secret');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}
