/**
 * `make capacity` (npx tsx loadtests/capacity.ts): reads the per-node figures that `make bench`
 * wrote into docs/benchmarks.json, computes the fleet for 500 million daily users with
 * capacity-model.ts, prints the table and writes it into docs/capacity.md between the
 * `capacity-model` markers. Other sections of that page (the ring) stay as they are.
 *
 * Variables: SWB_CAPACITY_RESULTS (default docs/benchmarks.json), SWB_CAPACITY_OUTPUT (default
 * docs/capacity.md, or `-` to print only).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import {
  computeCapacity,
  DEFAULT_DEMAND,
  DEFAULT_SIZING,
  type CapacityTable,
  type Demand,
  type MeasuredNode,
  type Sizing,
} from './capacity-model.ts';
import { conservativeBytes, findBestStep, type BenchResults } from './report/benchmarks-report.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS = resolve(ROOT, process.env.SWB_CAPACITY_RESULTS ?? 'docs/benchmarks.json');
const OUTPUT = process.env.SWB_CAPACITY_OUTPUT ?? join(ROOT, 'docs/capacity.md');
const BEGIN_MARK = '<!-- capacity-model:begin -->';
const END_MARK = '<!-- capacity-model:end -->';
const SECTION_HEADING = '## Fleet for 500 million daily users';

/**
 * Chat-node event loops behind each system's figure. The embedded profile runs both chat
 * nodes in one thread, so its whole rate is what one thread does. The cluster profile runs two
 * chat-node processes.
 */
const CHAT_NODE_THREADS: Record<string, number> = { 'switchboard-cluster': 2, 'switchboard-embedded': 1 };

/** Picks the per-node figures from the bench results, preferring the cluster profile. */
export function readMeasuredNode(results: BenchResults): MeasuredNode {
  const idle = results.idle;
  if (idle === undefined || idle.switchboard.held === 0) {
    throw new Error(`${RESULTS} has no idle-connection figure; run \`SWB_BENCH_ONLY=idle make bench\``);
  }
  for (const key of ['switchboard-cluster', 'switchboard-embedded']) {
    const steps = results.systems[key]?.steps ?? [];
    let step = findBestStep(steps);
    let caveat: string | undefined;
    if (step === undefined) {
      // No step met the p99 bound. The highest rate whose median stayed under 50 ms still
      // sizes the fleet for throughput, but the table must state that p99 misses the target.
      step = steps
        .filter(
          (candidate) =>
            candidate.p50Ms < 50 && candidate.deliveredPerSecond >= candidate.offeredPerSecond * 0.95,
        )
        .at(-1);
      if (step === undefined) continue;
      caveat =
        `no step of ${results.systems[key]!.label} kept p99 under 50 ms, so the message rate is the highest one whose ` +
        `median stayed under 50 ms (p99 there: ${step.p99Ms} ms). A fleet sized on it meets the throughput but not the p99 target.`;
    }
    const threads = CHAT_NODE_THREADS[key]!;
    return {
      messagesPerSecond: step.deliveredPerSecond / threads,
      bytesPerConnection: conservativeBytes(idle.switchboard),
      ...(caveat ? { caveat } : {}),
      source:
        `${results.systems[key]!.label}: ${step.deliveredPerSecond.toLocaleString('en-US')} msg/s delivered at p50 ` +
        `${step.p50Ms} ms and p99 ${step.p99Ms} ms over ${threads} chat-node thread(s), measured ${results.systems[key]!.measuredAt}; ` +
        `${conservativeBytes(idle.switchboard).toLocaleString('en-US')} bytes per idle connection over ` +
        `${idle.switchboard.held.toLocaleString('en-US')} connections, measured ${idle.measuredAt}`,
    };
  }
  throw new Error(
    `${RESULTS} has no Switchboard step that kept up with its offered rate; run \`make bench\``,
  );
}

const n = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const tb = (bytes: number) => `${n(bytes / 1e12, 1)} TB`;

/** Renders the inputs, the assumptions and the resulting table as markdown. */
export function renderCapacity(
  table: CapacityTable,
  node: MeasuredNode,
  demand: Demand,
  sizing: Sizing,
): string {
  return [
    BEGIN_MARK,
    '',
    `Written by \`npx tsx loadtests/capacity.ts\` from ${relative(ROOT, RESULTS)}. Measured per-node figures: ${node.source}.`,
    ...(node.caveat ? ['', `NOTE: ${node.caveat}`, ''] : []),
    'The bench machine is a shared 2-core machine, so the per-node message rate is a floor: a chat node with a core of its own, and with Redis, Kafka and Cassandra on other machines, handles more.',
    '',
    '### Load',
    '',
    '| figure | value | how |',
    '| --- | ---: | --- |',
    `| daily active users | ${n(demand.dailyActiveUsers)} | product target |`,
    `| messages per day | ${n(demand.messagesPerDay)} | 40 per user per day |`,
    `| average messages per second | ${n(table.averageMessagesPerSecond)} | per day / 86,400 |`,
    `| peak messages per second | ${n(table.peakMessagesPerSecond)} | average x ${demand.dailyPeakFactor} (daily peak) x ${1 + demand.eventBump} (event bump) |`,
    `| concurrent connections at peak | ${n(table.peakConnections)} | product target: plan for every daily user online with one connection |`,
    '',
    '### Fleet',
    '',
    '| component | count | load at peak | sized by |',
    '| --- | ---: | --- | --- |',
    `| chat nodes | **${n(table.chatNodes)}** | ${n(table.peakConnections / table.chatNodes)} connections and ${n(table.peakMessagesPerSecond / table.chatNodes)} msg/s each | the larger of ${n(table.chatNodesForConnections)} for connections (${n(table.connectionsPerChatNode)} each) and ${n(table.chatNodesForMessages)} for messages (${n(node.messagesPerSecond)} msg/s measured x ${sizing.chatNodeUtilisation} utilisation) |`,
    `| routers | **${n(table.routers)}** | ${n(table.routeRequestsPerSecond)} route requests/s | one request per connect, a connect every ${demand.meanSessionSeconds} s per connection, ${n(sizing.routerRequestsPerSecond)} requests/s per router |`,
    `| Redis shards | **${n(table.redisShards)}** | ${n(table.redisOpsPerSecond)} ops/s | ${sizing.redisOpsPerMessage} ops per message (sequence counter, idempotency record, cross-node publish) plus one presence renewal per connection every ${sizing.presenceHeartbeatSeconds} s, ${n(sizing.redisOpsPerShard)} ops/s per shard |`,
    `| Kafka brokers | **${n(table.kafkaBrokers)}** | ${n(table.kafkaBytesPerSecond / 2 ** 20)} MiB/s written with replicas | ${sizing.kafkaRecordBytes}-byte records, replication factor ${sizing.kafkaReplicationFactor}, ${n(sizing.kafkaBrokerBytesPerSecond / 2 ** 20)} MiB/s per broker |`,
    `| Kafka partitions | **${n(table.kafkaPartitions)}** | ${n(table.peakMessagesPerSecond / table.kafkaPartitions)} msg/s each | one persister consumer per partition at ${n(sizing.kafkaPartitionMessagesPerSecond)} msg/s |`,
    `| Cassandra nodes | **${n(table.cassandraNodes)}** | ${n(table.cassandraWritesPerSecond)} replica writes/s | the larger of ${n(table.cassandraNodesForWrites)} for writes (${sizing.cassandraRowsPerMessage} rows per message, RF ${sizing.cassandraReplicationFactor}, ${n(sizing.cassandraWritesPerNode)} writes/s per node) and ${n(table.cassandraNodesForDisk)} for ${sizing.retentionDays} days of messages (${tb(sizing.cassandraUsableDiskBytes)} usable per node) |`,
    `| Cassandra disk per day | **${tb(table.cassandraDiskBytesPerDay)}** | | ${sizing.cassandraBytesPerMessage} bytes per message with all its rows, before compression, x RF ${sizing.cassandraReplicationFactor} |`,
    `| pushes per second | **${n(table.pushesPerSecond)}** | | ${demand.offlineRecipientShare * 100}% of peak messages go to a recipient with no open connection |`,
    '',
    '### Assumptions',
    '',
    `- Daily peak factor ${demand.dailyPeakFactor}: the busiest hour carries twice the day's average rate, a common shape for a service whose users sit in a few neighbouring time zones. A user base spread evenly around the globe peaks lower; one in a single time zone peaks higher.`,
    `- Event bump +${demand.eventBump * 100}%: a sports final or an earthquake on top of the daily peak (the product plans for about a third).`,
    `- Chat nodes run at ${sizing.chatNodeUtilisation * 100}% of the measured rate, so that bursts and the users of a lost node fit on the others. Memory for connection state: ${n(sizing.chatNodeConnectionMemoryBytes / 2 ** 30)} GiB per node, and at most ${n(sizing.maxConnectionsPerChatNode)} connections per node, so that one node's users reconnect elsewhere within the 30 s target.`,
    `- Routers: ${n(sizing.routerRequestsPerSecond)} requests/s per instance is an estimate for fastify with one HS256 verification per request on one core; \`make bench\` does not measure the router.`,
    `- Redis: ${n(sizing.redisOpsPerShard)} ops/s per shard is an estimate that leaves headroom on a single-threaded Redis; not measured here.`,
    `- Kafka: ${n(sizing.kafkaBrokerBytesPerSecond / 2 ** 20)} MiB/s per broker with replication traffic is an estimate; ${sizing.kafkaRecordBytes} bytes per record is the 100-byte body plus ids, sequence, stream positions and Kafka's record overhead. ${n(sizing.kafkaPartitionMessagesPerSecond)} msg/s per partition is close to the persister's measured Cassandra write rate on this machine (docs/benchmarks.md, engines section).`,
    `- Cassandra: ${sizing.cassandraRowsPerMessage} rows per message (message, two stream rows, conversation head, two stream heads), ${n(sizing.cassandraWritesPerNode)} replica writes/s per node (an estimate for a node with its own disks), ${sizing.retentionDays} days kept, ${tb(sizing.cassandraUsableDiskBytes)} usable per node (half of 4 TB, for compaction).`,
    `- Pushes: ${demand.offlineRecipientShare * 100}% of messages reach a recipient with no open connection; collapsing per conversation would lower the rate and is not counted.`,
    '',
    END_MARK,
  ].join('\n');
}

function writeSection(block: string): void {
  if (!existsSync(OUTPUT)) {
    writeFileSync(OUTPUT, `# Switchboard capacity model\n\n${SECTION_HEADING}\n\n${block}\n`);
    return;
  }
  const text = readFileSync(OUTPUT, 'utf8');
  const begin = text.indexOf(BEGIN_MARK);
  const end = text.indexOf(END_MARK);
  if (begin >= 0 && end > begin) {
    writeFileSync(OUTPUT, text.slice(0, begin) + block + text.slice(end + END_MARK.length));
    return;
  }
  // First run: put the fleet before the other sections, right under the page title.
  const section = `${SECTION_HEADING}\n\n${block}\n\n`;
  const firstSection = text.indexOf('\n## ');
  if (firstSection < 0) writeFileSync(OUTPUT, `${text.trimEnd()}\n\n${section}`);
  else writeFileSync(OUTPUT, text.slice(0, firstSection + 1) + section + text.slice(firstSection + 1));
}

function main(): void {
  if (!existsSync(RESULTS)) throw new Error(`${RESULTS} does not exist; run \`make bench\` first`);
  const results = JSON.parse(readFileSync(RESULTS, 'utf8')) as BenchResults;
  const node = readMeasuredNode(results);
  const table = computeCapacity(DEFAULT_DEMAND, node, DEFAULT_SIZING);
  const block = renderCapacity(table, node, DEFAULT_DEMAND, DEFAULT_SIZING);
  process.stdout.write(block + '\n');
  if (OUTPUT !== '-') {
    writeSection(block);
    process.stderr.write(`wrote ${OUTPUT}\n`);
  }
}

if (process.argv[1] === import.meta.filename) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`capacity: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
