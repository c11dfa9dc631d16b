export { readClusterConfig, readTokenSecret, type ClusterConfig } from './cluster-config.ts';
export { connectBus, connectLog, connectSequencer, connectStore } from './connect.ts';
