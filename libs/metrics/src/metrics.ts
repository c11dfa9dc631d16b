import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HotHistogram, LATENCY_BUCKETS_SECONDS } from './hot-histogram.ts';
import { NodeMetrics } from './node-metrics.ts';

export interface MetricsOptions {
  /**
   * Whether to collect Node.js process metrics (CPU, memory, handles, GC, event-loop lag),
   * true by default.
   */
  processMetrics?: boolean;
}

/** Membership as the metrics read it at scrape time. */
export interface RingSource {
  readonly ringVersion: string;
  readonly members: readonly unknown[];
  /** Calls `listener` after the ring changed; returns a function that removes it. */
  onChange?(listener: () => void): () => void;
}

/**
 * The Prometheus registry of one process and every Switchboard instrument in it.
 *
 * Labels are bounded (node id, frame type, delivery path, result, HTTP route template and
 * status class), and never a user or conversation id. Chat-node instruments come from `forNode`
 * and turn into samples only when the registry is scraped.
 */
export class SwitchboardMetrics {
  readonly registry = new Registry();
  /** Records that the persister has not committed yet, sampled by a LagMonitor. */
  readonly persisterLag: Gauge;
  /** Records written to the store by the persister, replays included. */
  readonly persisterApplied: Counter;
  /** Durable-log appends of the cluster profile (Kafka), from call to acknowledgement, by `result`. */
  readonly kafkaProduce: HotHistogram;
  /** Cassandra requests, by `kind` (query or batch) and `result` (ok or error). */
  readonly cassandraQuery: HotHistogram;
  /** Push notifications accepted by a platform's push service, by `provider`. */
  readonly pushSent: Counter<'provider'>;
  /** Push sends that failed for good, by `provider` and `reason`. */
  readonly pushFailed: Counter<'provider' | 'reason'>;
  /** Push sends that a push service asked to retry later, by `provider`. */
  readonly pushRetried: Counter<'provider'>;
  /** Push jobs that ended without a notification, by `reason`. */
  readonly pushDropped: Counter<'reason'>;
  /** Time of one request to a push service, by `provider`. */
  readonly pushSendSeconds: Histogram<'provider'>;
  /** Push jobs that the push worker has not committed yet, sampled by a LagMonitor. */
  readonly pushLag: Gauge;
  /** HTTP responses, by route template and status class. */
  readonly httpRequests: Counter<'route' | 'status_class'>;
  readonly #nodes = new Map<string, NodeMetrics>();
  readonly #ackLatency: HotHistogram;
  readonly #sendToDeliver: HotHistogram;
  #ring: RingSource | null = null;
  #ringChanges = 0;
  #unwatchRing: (() => void) | undefined;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.#ackLatency = new HotHistogram({
      name: 'switchboard_ack_latency_seconds',
      help: 'Time from a send frame arriving on a chat node to its ack being written.',
      labelNames: ['node'],
      registry: this.registry,
    });
    this.#sendToDeliver = new HotHistogram({
      name: 'switchboard_send_to_deliver_seconds',
      help: 'Time from a message being accepted to its write to a recipient connection, on the delivering node.',
      labelNames: ['node'],
      registry: this.registry,
    });
    this.kafkaProduce = new HotHistogram({
      name: 'switchboard_kafka_produce_seconds',
      help: 'Time for an append to the Kafka log to be acknowledged by the in-sync replicas.',
      labelNames: ['result'],
      registry: this.registry,
    });
    this.cassandraQuery = new HotHistogram({
      name: 'switchboard_cassandra_query_seconds',
      help: 'Time of a Cassandra request, as the driver measured it.',
      labelNames: ['kind', 'result'],
      registry: this.registry,
    });

    const nodes = this.#nodes;
    new Gauge({
      name: 'switchboard_connections',
      help: 'Open WebSocket connections on a chat node.',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const node of nodes.values()) this.set({ node: node.node }, node.connections);
      },
    });
    this.#nodeCounter(
      'switchboard_frames_received_total',
      'Frames received from clients, by type.',
      ['type'],
      (node, add) => {
        for (const tally of node.receivedFrames()) add({ type: tally.label }, tally.value);
      },
    );
    this.#nodeCounter(
      'switchboard_frames_sent_total',
      'Frames written to client connections, by type.',
      ['type'],
      (node, add) => {
        for (const tally of node.sentFrames()) add({ type: tally.label }, tally.value);
      },
    );
    this.#nodeCounter(
      'switchboard_messages_accepted_total',
      'Messages sequenced, appended to the durable log and acknowledged.',
      [],
      (node, add) => add({}, node.messagesAccepted),
    );
    this.#nodeCounter(
      'switchboard_messages_delivered_total',
      'Messages written to recipient connections, by path: local from this node, remote from another.',
      ['path'],
      (node, add) => {
        add({ path: 'local' }, node.delivered.local);
        add({ path: 'remote' }, node.delivered.remote);
      },
    );
    this.#nodeCounter(
      'switchboard_cross_node_publishes_total',
      'Delivery batches published to other chat nodes over the bus.',
      [],
      (node, add) => add({}, node.crossNodePublishes),
    );
    this.#nodeCounter(
      'switchboard_rate_limited_total',
      'Inbound frames dropped or refused for a connection frame rate.',
      [],
      (node, add) => add({}, node.rateLimitedFrames),
    );
    this.#nodeCounter(
      'switchboard_slow_consumer_total',
      'Connections whose send buffer filled: live deliveries dropped (behind) or the connection closed.',
      ['action'],
      (node, add) => {
        add({ action: 'behind' }, node.slowConsumers.behind);
        add({ action: 'closed' }, node.slowConsumers.closed);
      },
    );

    const readRing = () => this.#ring;
    new Gauge({
      name: 'switchboard_ring_size',
      help: 'Chat nodes in the consistent-hash ring as this process sees it.',
      registers,
      collect() {
        this.set(readRing()?.members.length ?? 0);
      },
    });
    new Gauge({
      name: 'switchboard_ring_version_info',
      help: 'Version of the ring this process uses, as a label of the value 1.',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        const ring = readRing();
        if (ring !== null) this.set({ version: ring.ringVersion }, 1);
      },
    });

    const readRingChanges = () => this.#ringChanges;
    new Counter({
      name: 'switchboard_ring_changes_total',
      help: 'Changes of the ring seen by this process: a node joined, left or expired.',
      registers,
      collect() {
        this.reset();
        this.inc(readRingChanges());
      },
    });
    const kafkaErrors = this.kafkaProduce.series('error');
    new Counter({
      name: 'switchboard_kafka_produce_errors_total',
      help: 'Appends to the Kafka log that failed. The sender gets a retryable error.',
      registers,
      collect() {
        this.reset();
        this.inc(kafkaErrors.count);
      },
    });

    this.persisterLag = new Gauge({
      name: 'switchboard_persister_lag_records',
      help: 'Records in the durable log that the persister has not committed yet.',
      registers,
    });
    this.persisterApplied = new Counter({
      name: 'switchboard_persister_applied_records_total',
      help: 'Records written to the store by the persister, replays included.',
      registers,
    });
    this.pushSent = new Counter({
      name: 'switchboard_push_sent_total',
      help: 'Push notifications accepted by a push service, by provider.',
      labelNames: ['provider'],
      registers,
    });
    this.pushFailed = new Counter({
      name: 'switchboard_push_failed_total',
      help: 'Push sends that failed for good (rejected, or out of retries), by provider and reason.',
      labelNames: ['provider', 'reason'],
      registers,
    });
    this.pushRetried = new Counter({
      name: 'switchboard_push_retried_total',
      help: 'Push sends that a push service asked to retry later, by provider.',
      labelNames: ['provider'],
      registers,
    });
    this.pushDropped = new Counter({
      name: 'switchboard_push_dropped_total',
      help: 'Push jobs that ended without a notification, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.pushSendSeconds = new Histogram({
      name: 'switchboard_push_send_seconds',
      help: 'Time of one request to a push service, from call to its answer, by provider.',
      labelNames: ['provider'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.pushLag = new Gauge({
      name: 'switchboard_push_lag_records',
      help: 'Push jobs that the push worker has not committed yet.',
      registers,
    });
    this.httpRequests = new Counter({
      name: 'switchboard_http_requests_total',
      help: 'HTTP responses, by route template and status class.',
      labelNames: ['route', 'status_class'],
      registers,
    });
  }

  /** Content-Type of the exposition text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Renders every metric in the Prometheus text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Returns the instruments of chat node `id`, created at the first call. A node restarted
   * in the same process gets the same instruments, so its counters keep counting up.
   */
  forNode(id: string): NodeMetrics {
    let node = this.#nodes.get(id);
    if (node === undefined) {
      node = new NodeMetrics(id, { ackLatency: this.#ackLatency, sendToDeliver: this.#sendToDeliver });
      this.#nodes.set(id, node);
    }
    return node;
  }

  /** Reads the ring size and version from `source` at every scrape, and counts its changes. */
  watchRing(source: RingSource): void {
    this.#unwatchRing?.();
    this.#ring = source;
    this.#unwatchRing = source.onChange?.(() => {
      this.#ringChanges++;
    });
  }

  /** Registers a counter whose samples are the per-node totals that `read` hands to `add`. */
  #nodeCounter(
    name: string,
    help: string,
    labelNames: string[],
    read: (node: NodeMetrics, add: (labels: Record<string, string>, value: number) => void) => void,
  ): void {
    const nodes = this.#nodes;
    new Counter({
      name,
      help,
      labelNames: ['node', ...labelNames],
      registers: [this.registry],
      collect() {
        // Totals live in NodeMetrics, so each scrape rebuilds the samples from them.
        this.reset();
        for (const node of nodes.values()) {
          read(node, (labels, value) => this.inc({ ...labels, node: node.node }, value));
        }
      },
    });
  }
}
