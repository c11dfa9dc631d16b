export { ChatNode, type ChatNodeOptions, type Heartbeat, type Placement } from './chat-node.ts';
export {
  buildPolicyEnv,
  DEFAULT_CONNECTION_POLICY,
  readConnectionPolicy,
  type ConnectionPolicy,
} from './config.ts';
export { ConnectionTable } from './connection-table.ts';
export { ChannelNotifier, type OfflineRecipients } from './channel-notifier.ts';
export {
  buildRealtimeEnv,
  DEFAULT_REALTIME_POLICY,
  readRealtimePolicy,
  type RealtimePolicy,
} from './realtime-config.ts';
