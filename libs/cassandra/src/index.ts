export { CassandraStore } from './cassandra-store.ts';
export { CassandraPushRegistry } from './cassandra-push-registry.ts';
export {
  CONSISTENCY_LEVELS,
  DEFAULT_BUCKET_SIZE,
  DEFAULT_REPLICATION,
  MAX_BUCKET_SIZE,
  SERIAL_CONSISTENCY_LEVELS,
  type CassandraStoreOptions,
  type ConsistencyName,
  type ReplicationOptions,
  type SerialConsistencyName,
} from './cassandra-options.ts';
export { migrateSchema, type MigrateOptions } from './schema-migrations.ts';
export { buildMigrations, USER_PREFIX_LENGTH, USER_PREFIX_SHARDS, type Migration } from './schema.ts';
