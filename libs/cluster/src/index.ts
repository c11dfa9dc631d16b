export { readClusterConfig, readTokenSecret, type ClusterConfig } from './cluster-config.ts';
export {
  connectBus,
  connectLog,
  connectPushDeadLog,
  connectPushJobLog,
  connectSequencer,
  connectStore,
  type StoreObservers,
} from './connect.ts';
export { CassandraQueryTracker } from './query-tracker.ts';
