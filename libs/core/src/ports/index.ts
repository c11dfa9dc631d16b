export type * from './bus.ts';
export type * from './log.ts';
export type * from './store.ts';
export type * from './sequencer.ts';
export type * from './push.ts';
