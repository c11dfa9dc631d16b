import { afterAll, describe } from 'vitest';
import { runPushRegistryContract } from '@switchboard/core/testing';
import { CassandraStore } from './cassandra-store.ts';
import {
  CONTACT_POINTS,
  SKIP_MESSAGE,
  buildTestKeyspace,
  buildTestOptions,
  dropKeyspace,
  isCassandraReachable,
} from './test-cassandra.ts';

const reachable = await isCassandraReachable();
if (!reachable) console.warn(SKIP_MESSAGE);

describe.skipIf(!reachable)(`Cassandra push registry on ${CONTACT_POINTS.join(', ')}`, () => {
  const keyspace = buildTestKeyspace();
  let store: Promise<CassandraStore> | undefined;

  afterAll(async () => {
    if (store !== undefined) await (await store).close();
    await dropKeyspace(keyspace);
  }, 120_000);

  // One store for the keyspace keeps the run short; the contract's random user ids keep tests apart.
  runPushRegistryContract('CassandraPushRegistry', async () => {
    store ??= CassandraStore.connect(buildTestOptions(keyspace));
    return { registry: (await store).push, close: async () => {} };
  });
});
