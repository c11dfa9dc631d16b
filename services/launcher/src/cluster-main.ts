/**
 * `make cluster`: starts Redis, Kafka and Cassandra on loopback, then the router, the API,
 * three chat nodes, the persister and the push worker as separate processes, with their logs
 * formatted for people on stdout and kept as JSON lines in .data/cluster/logs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, readInt, readPort } from '@switchboard/core';
import { startClusterProcesses } from './cluster-processes.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

function loadOrCreateSecret(dir: string): string {
  const path = join(dir, 'token-secret');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}

async function main(): Promise<void> {
  const env = process.env;
  const dataDir = join(ROOT, '.data/cluster');
  mkdirSync(dataDir, { recursive: true });
  const chatNodes = readInt(env, 'SWB_CHAT_NODES', 3, { min: 1, max: 16 });
  const ports = {
    api: readPort(env, 'SWB_API_PORT', 8080),
    router: readPort(env, 'SWB_ROUTER_PORT', 8081),
    chatBase: readPort(env, 'SWB_CHAT_PORT_BASE', 9001),
    persisterOperations: readPort(env, 'SWB_METRICS_PORT', 9464),
    pushWorkerOperations: readPort(env, 'SWB_PUSH_METRICS_PORT', 9465),
  };

  execFileSync(join(ROOT, 'deploy/local/infra.sh'), ['up'], { stdio: 'inherit' });
  const cluster = await startClusterProcesses({
    env: { SWB_TOKEN_SECRET: env.SWB_TOKEN_SECRET ?? loadOrCreateSecret(dataDir) },
    chatNodes,
    logDir: join(dataDir, 'logs'),
    echo: true,
    ports,
    // It drops every job unless SWB_PUSH_ variables configure a provider (docs/operations.md).
    pushWorker: true,
  });

  process.stdout.write(
    [
      '',
      'Switchboard is running (cluster profile).',
      `  API:     ${cluster.apiUrl}   (reference at ${cluster.apiUrl}/docs)`,
      `  router:  ${cluster.routerUrl}`,
      ...cluster.chatNodes.map((node) => `  ${node.name}: ${node.address}`),
      `  persister metrics: ${cluster.persister.operationsUrl}/metrics`,
      `  push worker metrics: ${cluster.pushWorker?.operationsUrl}/metrics`,
      `  logs:    ${join(dataDir, 'logs')}`,
      '',
      'Press Ctrl+C to stop the services; `make infra-down` stops the engines.',
      '',
    ].join('\n'),
  );

  const shutdown = () => {
    cluster.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `switchboard cluster: ${err instanceof ConfigError ? 'invalid configuration: ' : ''}${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
