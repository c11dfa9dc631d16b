import type { Metric, Registry } from 'prom-client';

/** One sample as prom-client's Registry formats it: `metricName{labels} value`. */
export interface ExportedSample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A metric as prom-client's Registry reads it at scrape time. */
export interface ExportedMetric {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: ExportedSample[];
}

/** Upper bounds in seconds for latencies that are usually milliseconds and sometimes seconds. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Observations of one label set: a count per bucket, their sum and their number. */
export class HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = Object.freeze({ ...labels });
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length);
  }

  /** Records one value; allocates nothing, so it is safe on the message path. */
  observe(value: number): void {
    if (!(value >= 0)) value = 0;
    this.#sum += value;
    this.#count++;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.#counts[i]!++;
        return;
      }
    }
  }

  /** Number of observations so far. */
  get count(): number {
    return this.#count;
  }

  /** Appends the `_bucket`, `_sum` and `_count` samples of this series to `out`. */
  export(name: string, out: ExportedSample[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      out.push({
        metricName: `${name}_bucket`,
        labels: { ...this.labels, le: this.#bounds[i]! },
        value: cumulative,
      });
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...this.labels, le: '+Inf' }, value: this.#count });
    out.push({ metricName: `${name}_sum`, labels: { ...this.labels }, value: this.#sum });
    out.push({ metricName: `${name}_count`, labels: { ...this.labels }, value: this.#count });
  }
}

/**
 * A Prometheus histogram whose series are plain objects held by their callers.
 *
 * prom-client's `Histogram.observe` builds a label hash and a closure on every call; on the
 * message path that is one allocation per message. Here a caller takes its series once with
 * `series(...)` and then only adds numbers; the exposition text is built at scrape time.
 */
export class HotHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly string[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(options: {
    name: string;
    help: string;
    labelNames?: readonly string[];
    buckets?: readonly number[];
    registry: Registry;
  }) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames ?? [];
    this.#bounds = Object.freeze([...(options.buckets ?? LATENCY_BUCKETS_SECONDS)]);
    // prom-client's Registry reads a metric through `name`, `help`, `type`, `aggregator`,
    // `get()` and `reset()` only, so this class can be registered in place of its Histogram.
    options.registry.registerMetric(this as unknown as Metric);
  }

  /** Returns the series of one label set, creating it at its first use. */
  series(...values: string[]): HistogramSeries {
    if (values.length !== this.#labelNames.length) {
      throw new Error(
        `${this.name} takes labels ${this.#labelNames.join(', ')}, got ${values.length} values`,
      );
    }
    const key = values.join('\u0000');
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((label, i) => (labels[label] = values[i]!));
      series = new HistogramSeries(labels, this.#bounds);
      this.#series.set(key, series);
    }
    return series;
  }

  async get(): Promise<ExportedMetric> {
    const values: ExportedSample[] = [];
    for (const series of this.#series.values()) series.export(this.name, values);
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  /** Does nothing: series keep their counts, because callers hold them (`Registry.resetMetrics`). */
  reset(): void {}
}
