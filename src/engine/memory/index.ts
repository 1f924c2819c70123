export { MemoryEngine, type MemoryEngineOptions } from './memory-engine.js';
export type { ShardBacklog } from './outbox.js';
export type { EngineSnapshot, RestoredAgent, RestoredPool } from './restore.js';
export { checkPools } from './restore-pools.js';
