import { hostname } from 'node:os';
import {
  MembershipView,
  Messenger,
  NodeHeartbeat,
  readHost,
  readInt,
  readPort,
  readString,
  runService,
  TokenIssuer,
} from '@switchboard/core';
import {
  connectBus,
  connectLog,
  connectSequencer,
  connectStore,
  readClusterConfig,
  readTokenSecret,
} from '@switchboard/cluster';
import { ChatNode } from './chat-node.ts';
import { readConnectionPolicy } from './config.ts';

/** Consumer group of the persister, whose progress sync and fetch wait for. */
const PERSISTER_GROUP = 'persister';

runService('chat-node', async (logger) => {
  const env = process.env;
  const config = readClusterConfig(env);
  const policy = readConnectionPolicy(env);
  const host = readHost(env, 'SWB_HOST', '127.0.0.1');
  const port = readPort(env, 'SWB_CHAT_PORT', 9001);
  const id = readString(env, 'SWB_NODE_ID', `${hostname()}-${port}`, /^[A-Za-z0-9_.-]{1,64}$/, 'a node id');
  const publicUrl = env.SWB_PUBLIC_URL;
  const intervalMs = readInt(env, 'SWB_HEARTBEAT_INTERVAL_MS', 1000, { min: 50 });
  const ttlMs = readInt(env, 'SWB_HEARTBEAT_TTL_MS', 3000, { min: 100 });
  const tokens = new TokenIssuer({
    secret: readTokenSecret(env),
    accessTtlSeconds: 900,
    refreshTtlSeconds: 3600,
  });

  const bus = await connectBus(config, logger, `chat-node:${id}`);
  const store = await connectStore(config, logger);
  const log = await connectLog(config, logger, `chat-node-${id}`);
  const sequencer = await connectSequencer(config, store, logger, `chat-node:${id}:sequencer`);
  const membership = new MembershipView({ bus, logger, refreshMs: intervalMs });
  await membership.start();

  const messenger = new Messenger({ store, sequencer, log, logger, persisterGroup: PERSISTER_GROUP });
  const node = new ChatNode({
    id,
    host,
    port,
    bus,
    placement: membership,
    createHeartbeat: (info) => new NodeHeartbeat({ bus, node: info, intervalMs, ttlMs, logger }),
    ...(publicUrl ? { publicUrl: () => publicUrl } : {}),
    messenger,
    tokens,
    logger,
    policy,
  });
  await node.start();

  return async () => {
    await node.stop();
    await membership.stop();
    await sequencer.close();
    await log.close();
    await store.close();
    await bus.close();
  };
});
