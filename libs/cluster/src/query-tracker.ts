import cassandra, { type tracker } from 'cassandra-driver';
import type { DependencyProbe } from '@switchboard/core';
import type { HistogramSeries, HotHistogram } from '@switchboard/metrics';

type Query = string | Array<{ query: string; params?: unknown }>;

// cassandra-driver 4.10 rejects a tracker that is not `instanceof tracker.RequestTracker`, but
// its type declarations describe RequestTracker as an interface only, so the class is taken
// from the runtime module.
const RequestTrackerBase = (cassandra.tracker as unknown as { RequestTracker: new () => object })
  .RequestTracker;

/**
 * A cassandra-driver request tracker that records every request's latency, by kind (query or
 * batch) and result, and reports each outcome to the store's readiness probe.
 *
 * The driver measures the latency itself and passes it as a `process.hrtime` pair.
 */
export class CassandraQueryTracker extends RequestTrackerBase implements tracker.RequestTracker {
  readonly #queryOk: HistogramSeries | undefined;
  readonly #queryError: HistogramSeries | undefined;
  readonly #batchOk: HistogramSeries | undefined;
  readonly #batchError: HistogramSeries | undefined;
  readonly #probe: DependencyProbe | undefined;

  constructor(options: { histogram?: HotHistogram; probe?: DependencyProbe }) {
    super();
    this.#queryOk = options.histogram?.series('query', 'ok');
    this.#queryError = options.histogram?.series('query', 'error');
    this.#batchOk = options.histogram?.series('batch', 'ok');
    this.#batchError = options.histogram?.series('batch', 'error');
    this.#probe = options.probe;
  }

  onSuccess(
    _host: unknown,
    query: Query,
    _parameters: unknown,
    _options: unknown,
    _requestLength: number,
    _responseLength: number,
    latency: number[],
  ): void {
    (Array.isArray(query) ? this.#batchOk : this.#queryOk)?.observe(toSeconds(latency));
    this.#probe?.noteSuccess();
  }

  onError(
    _host: unknown,
    query: Query,
    _parameters: unknown,
    _options: unknown,
    _requestLength: number,
    err: Error,
    latency: number[],
  ): void {
    (Array.isArray(query) ? this.#batchError : this.#queryError)?.observe(toSeconds(latency));
    this.#probe?.noteFailure(err);
  }

  shutdown(): void {}
}

function toSeconds(latency: number[]): number {
  return (latency[0] ?? 0) + (latency[1] ?? 0) / 1e9;
}
