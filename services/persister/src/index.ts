export { Persister, PERSISTER_GROUP, type PersisterOptions } from './persister.ts';
