export { ChatNode, type ChatNodeOptions, type Heartbeat, type Placement } from './chat-node.ts';
export {
  buildPolicyEnv,
  DEFAULT_CONNECTION_POLICY,
  readConnectionPolicy,
  type ConnectionPolicy,
} from './config.ts';
export { ConnectionTable } from './connection-table.ts';
