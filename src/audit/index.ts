/**
 * The audit trail (ARCHITECTURE.md, rules 'No decision without its audit event',
 * 'Redis decides; the store remembers and restores', 'Embedded by default'):
 * the event schema, the durable store
 * (PostgreSQL or PGlite), the Redis-mode drain and its BullMQ worker, the
 * embedded in-process drain, and the background sweep of expired holds.
 */
export * from './drain/index.js';
export * from './embedded/index.js';
export * from './event.js';
export { createStore, type StoreOptions } from './store/index.js';
export type * from './store/types.js';
export * from './sweep.js';
