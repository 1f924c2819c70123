export { splitReplies } from './authorize-batcher.js';
export { loadScript } from './lua.js';
export {
  invalidAgent,
  type RecoveryOptions,
  type RecoverySource,
  readyKey,
  recoveryLockKey,
  type ShardRecovery,
} from './recovery.js';
export { RedisEngine, type RedisEngineOptions } from './redis-engine.js';
export type { ScriptName, ScriptObserver } from './scripts.js';
export { readStateLayout, type StateLayout, StateReader } from './state.js';
