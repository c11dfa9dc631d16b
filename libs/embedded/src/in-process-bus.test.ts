import { runBusContract } from '@switchboard/core/testing';
import { InProcessBus } from './in-process-bus.ts';

runBusContract('InProcessBus', async () => {
  const bus = new InProcessBus({ sweepIntervalMs: 50 });
  return { bus, close: () => bus.close() };
});
