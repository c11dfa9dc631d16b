export { KafkaLog } from './kafka-log.ts';
export type { KafkaLogOptions } from './kafka-log-options.ts';
export {
  LOG_RECORD_CODEC,
  PUSH_JOB_CODEC,
  type KafkaRecordCodec,
  type EncodedRecord,
} from './record-codec.ts';
