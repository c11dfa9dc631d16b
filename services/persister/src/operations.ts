import type { DependencyProbe } from '@switchboard/core';
import {
  startConsumerOperations,
  type ConsumerOperations,
  type ConsumerOperationsOptions,
} from '@switchboard/metrics';
import type { Persister } from './persister.ts';

export interface PersisterOperationsOptions extends Omit<
  ConsumerOperationsOptions,
  'running' | 'lagGauge' | 'storeProbe'
> {
  persister: Persister;
  /** Probe of the store, which also receives the outcome of every store request. */
  storeProbe: DependencyProbe;
}

/**
 * Starts sampling the persister's lag into `switchboard_persister_lag_records` and serves
 * /metrics, /healthz and /readyz. The persister is ready while its consumer runs and the log
 * and the store respond.
 */
export function startPersisterOperations(options: PersisterOperationsOptions): Promise<ConsumerOperations> {
  const { persister, ...rest } = options;
  return startConsumerOperations({
    ...rest,
    running: () => persister.running,
    lagGauge: options.metrics.persisterLag,
  });
}
