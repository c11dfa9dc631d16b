export {
  assertRingMember,
  buildRing,
  computeRingVersion,
  DEFAULT_VNODES,
  MAX_VNODES,
  MAX_WEIGHT,
  type Ring,
  type RingMember,
  type RingOptions,
} from './ring.ts';
