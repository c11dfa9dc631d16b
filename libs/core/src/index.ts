export * from './errors.ts';
export type * from './ports/index.ts';
export * from './tokens.ts';
export * from './passwords.ts';
export * from './logger.ts';
export * from './config.ts';
export * from './messenger.ts';
export * from './membership.ts';
export * from './http-errors.ts';
