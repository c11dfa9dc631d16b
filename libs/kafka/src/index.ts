export { KafkaLog } from './kafka-log.ts';
export type { KafkaLogOptions } from './kafka-log-options.ts';
