/**
 * The audit trail (DESIGN rules 6, 8, 9): the event schema, the durable store
 * (PostgreSQL or PGlite), the Redis-mode drain and its BullMQ worker, and the
 * embedded in-process drain.
 */
export * from './drain/index.js';
export * from './embedded/index.js';
export * from './event.js';
export { createStore, type StoreOptions } from './store/index.js';
export type * from './store/types.js';
