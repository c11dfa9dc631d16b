/**
 * The embedded profile in this process with several chat nodes, for the killed-node scenario.
 * On SIGUSR2 it crashes `node-1` the way a killed process looks to its clients: sockets cut
 * without a close frame, no drain and no leave. The node's membership entry then expires after
 * its heartbeat TTL, so the router moves its users to the other nodes.
 *
 * Usage: node --import tsx loadtests/harness/failover-server.ts
 * Variables: SWB_TOKEN_SECRET (required), SWB_DATA_DIR (required), SWB_CHAT_NODES (default 3).
 * Prints `{"msg":"failover cluster ready","apiUrl":...,"nodes":[...]}` once ready and
 * `{"msg":"node crashed","node":"node-1","connections":N}` after SIGUSR2; stops on SIGTERM.
 */
import { createLogger } from '@switchboard/core';
import { startEmbeddedCluster } from '../../services/launcher/src/embedded-cluster.ts';

const secret = process.env.SWB_TOKEN_SECRET;
const dataDir = process.env.SWB_DATA_DIR;
if (!secret || !dataDir) throw new Error('SWB_TOKEN_SECRET and SWB_DATA_DIR must be set');

const cluster = await startEmbeddedCluster({
  dataDir,
  host: '127.0.0.1',
  httpPort: 0,
  chatNodes: Number(process.env.SWB_CHAT_NODES ?? 3),
  chatPortBase: 0,
  tokenSecret: secret,
  accessTtlSeconds: 3600,
  // Each harness sender sends far more than a person; the idle clients send nothing.
  policy: { framesPerSecond: 100_000, maxConnectionsPerUser: 16 },
  logger: createLogger('failover', { level: 'warn' }),
});
const print = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + '\n');
print({
  msg: 'failover cluster ready',
  apiUrl: cluster.apiUrl,
  nodes: cluster.nodes.map((node) => ({ id: node.id, url: node.url })),
});

process.on('SIGUSR2', () => {
  const victim = cluster.nodes[0]!;
  const connections = victim.connectionCount;
  cluster.crashNode(victim).then(
    () => print({ msg: 'node crashed', node: victim.id, connections, at: Date.now() }),
    (err: unknown) => print({ msg: 'crash failed', error: String(err) }),
  );
});
process.on('SIGTERM', () => {
  cluster.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
