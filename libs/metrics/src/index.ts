export {
  startConsumerOperations,
  type ConsumerOperations,
  type ConsumerOperationsOptions,
} from './consumer-operations.ts';
export { HistogramSeries, HotHistogram, LATENCY_BUCKETS_SECONDS } from './hot-histogram.ts';
export { registerHttpOperations, type HttpOperationsOptions } from './http-operations.ts';
export { LagMonitor, type LagMonitorOptions } from './lag-monitor.ts';
export { MeasuredLog, type MeasuredLogOptions } from './measured-log.ts';
export { SwitchboardMetrics, type MetricsOptions, type RingSource } from './metrics.ts';
export { NodeMetrics, type SlowConsumerAction, type Tally } from './node-metrics.ts';
export {
  startOperationsServer,
  type OperationsServer,
  type OperationsServerOptions,
} from './operations-server.ts';
