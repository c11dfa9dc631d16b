// Test helpers and port contract suites. They import vitest, so production code must not
// import this module; it is reachable only as `@switchboard/core/testing`.
export { runBusContract, type BusFixture } from './bus-contract.ts';
export { runLogContract, type LogFixture } from './log-contract.ts';
export { runStoreContract, type StoreFixture } from './store-contract.ts';
export { runSequencerContract } from './sequencer-contract.ts';
export { buildMessage, buildReceipt } from './test-records.ts';
export { uniqueId, waitFor } from './wait-for.ts';
export { runEntry, type EntryOutcome } from './run-entry.ts';
export { runPushRegistryContract, type PushRegistryFixture } from './push-registry-contract.ts';
