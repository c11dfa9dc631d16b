export { RedisBus, DEFAULT_REDIS_SWEEP_INTERVAL_MS, type RedisBusOptions } from './redis-bus.ts';
export { RedisSequencer, type RedisSequencerOptions } from './redis-sequencer.ts';
export { DEFAULT_KEY_PREFIX, type RedisConnectionOptions } from './redis-connection.ts';
