export { loadScript } from './lua.js';
export { RedisEngine, type RedisEngineOptions } from './redis-engine.js';
export type { ScriptName, ScriptObserver } from './scripts.js';
