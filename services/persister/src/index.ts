export { Persister, PERSISTER_GROUP, type PersisterOptions } from './persister.ts';
export { startPersisterOperations, type PersisterOperationsOptions } from './operations.ts';
