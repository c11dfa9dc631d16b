export * from './codes.ts';
export * from './frames.ts';
export * from './ids.ts';
export * from './decode.ts';
