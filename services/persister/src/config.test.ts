import { describe, expect, it } from 'vitest';
import { runEntry } from '@switchboard/core/testing';
import { readPersisterConfig } from './config.ts';

describe('readPersisterConfig', () => {
  it('fills in the defaults', () => {
    const config = readPersisterConfig({});
    expect(config.host).toBe('127.0.0.1');
    expect(config.metricsPort).toBe(9464);
    expect(config.lagIntervalMs).toBe(5000);
    expect(config.cluster.kafkaBrokers).toEqual(['127.0.0.1:9092']);
  });
});

describe('persister main', () => {
  it('exits 78 naming a bad metrics port', async () => {
    const outcome = await runEntry('services/persister/src/main.ts', { SWB_METRICS_PORT: '-1' });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'persister: invalid configuration: SWB_METRICS_PORT: must be >= 0, got -1',
    );
  });

  it('exits 78 naming a malformed broker list', async () => {
    const outcome = await runEntry('services/persister/src/main.ts', {
      SWB_KAFKA_BROKERS: 'kafka-without-port',
    });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'persister: invalid configuration: SWB_KAFKA_BROKERS: expected host:port, got "kafka-without-port"',
    );
  });
});
