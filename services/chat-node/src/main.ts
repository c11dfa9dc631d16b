import {
  DependencyProbe,
  MembershipView,
  Messenger,
  NodeHeartbeat,
  READINESS_PROBE_CONVERSATION,
  readLargeGroupThreshold,
  runService,
  TokenIssuer,
} from '@switchboard/core';
import {
  connectBus,
  connectLog,
  connectPushJobLog,
  connectSequencer,
  connectStore,
} from '@switchboard/cluster';
import { MeasuredLog, startOperationsServer, SwitchboardMetrics } from '@switchboard/metrics';
import { ChatNode } from './chat-node.ts';
import { readRealtimePolicy } from './realtime-config.ts';
import { readChatNodeConfig } from './service-config.ts';

runService('chat-node', async (logger) => {
  const config = readChatNodeConfig(process.env);
  const realtime = readRealtimePolicy(process.env);
  const largeGroupThreshold = readLargeGroupThreshold(process.env);
  const { cluster, nodeId: id, heartbeatIntervalMs: intervalMs, heartbeatTtlMs: ttlMs } = config;
  const publicUrl = config.publicUrl;
  const tokens = new TokenIssuer({
    secret: config.tokenSecret,
    accessTtlSeconds: 900,
    refreshTtlSeconds: 3600,
  });
  const metrics = new SwitchboardMetrics();

  const bus = await connectBus(cluster, logger, `chat-node:${id}`);
  const storeProbe = new DependencyProbe({
    name: 'store',
    check: () => store.maxSeq(READINESS_PROBE_CONVERSATION),
    logger,
  });
  const store = await connectStore(cluster, logger, { metrics, probe: storeProbe });
  const log = await connectLog(cluster, logger, `chat-node-${id}`);
  const pushJobs = await connectPushJobLog(cluster, logger, `chat-node-${id}-push`);
  const logProbe = new DependencyProbe({
    name: 'log',
    check: () => log.lag(cluster.persisterGroup),
    logger,
  });
  const sequencer = await connectSequencer(cluster, store, logger, `chat-node:${id}:sequencer`);
  // The first connection of a new user seeds its stream head from the store. Reading once here
  // prepares those queries before the node takes connections, not during someone's welcome.
  await Promise.all([
    store.maxSeq(READINESS_PROBE_CONVERSATION),
    store.maxStreamPos(READINESS_PROBE_CONVERSATION),
  ]).catch((err: unknown) => logger.warn({ err }, 'store warm-up read failed'));
  const membership = new MembershipView({ bus, logger, refreshMs: intervalMs });
  await membership.start();
  metrics.watchRing(membership);
  const dependencies = [
    new DependencyProbe({ name: 'bus', check: () => bus.members(), logger }),
    logProbe,
    storeProbe,
  ];

  const messenger = new Messenger({
    store,
    sequencer,
    log: new MeasuredLog(log, { histogram: metrics.kafkaProduce, probe: logProbe }),
    logger,
    persisterGroup: cluster.persisterGroup,
    largeGroupThreshold,
  });
  const node = new ChatNode({
    id,
    host: config.host,
    port: config.port,
    bus,
    placement: membership,
    createHeartbeat: (info) => new NodeHeartbeat({ bus, node: info, intervalMs, ttlMs, logger }),
    ...(publicUrl === null ? {} : { publicUrl: () => publicUrl }),
    messenger,
    tokens,
    logger,
    policy: config.policy,
    metrics,
    serveMetrics: config.metricsPort === null,
    dependencies,
    realtime,
    pushJobs,
  });
  await node.start();
  const operations =
    config.metricsPort === null
      ? null
      : await startOperationsServer({
          host: config.host,
          port: config.metricsPort,
          metrics,
          readiness: { report: () => node.readiness() },
          logger,
        });

  // On SIGTERM: the node leaves the ring, drains its connections and appends its queued push
  // jobs, then the logs close, which waits for the appends still in flight, so no
  // acknowledged message is cut off.
  return async () => {
    await node.stop();
    await operations?.close();
    await membership.stop();
    await sequencer.close();
    await pushJobs.close();
    await log.close();
    await store.close();
    await bus.close();
  };
});
