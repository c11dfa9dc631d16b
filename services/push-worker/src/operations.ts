import type { DependencyProbe } from '@switchboard/core';
import {
  startConsumerOperations,
  type ConsumerOperations,
  type ConsumerOperationsOptions,
} from '@switchboard/metrics';
import type { PushWorker } from './push-worker.ts';

export interface PushWorkerOperationsOptions extends Omit<
  ConsumerOperationsOptions,
  'running' | 'lagGauge' | 'storeProbe'
> {
  worker: PushWorker;
  /** Probe of the push registry: the store that contains subscriptions and settings. */
  registryProbe: DependencyProbe;
}

/**
 * Starts sampling the push-jobs lag into `switchboard_push_lag_records` and serves /metrics,
 * /healthz and /readyz. The worker is ready while its consumer runs and the push-jobs log and
 * the registry respond. A worker without providers is ready too: it drops every job.
 */
export function startPushWorkerOperations(options: PushWorkerOperationsOptions): Promise<ConsumerOperations> {
  const { worker, registryProbe, ...rest } = options;
  return startConsumerOperations({
    ...rest,
    running: () => worker.running,
    lagGauge: options.metrics.pushLag,
    storeProbe: registryProbe,
  });
}
