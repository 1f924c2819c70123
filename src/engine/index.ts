import { checkEvictionPolicy, connect, type RedisTarget, waitReady } from './connect.js';
import { MemoryEngine } from './memory/index.js';
import { RedisEngine } from './redis/index.js';
import type { ScriptObserver } from './redis/scripts.js';
import type { Engine } from './types.js';

export { type AlertThresholds, alertThresholds } from './alerts.js';
export { dayOf, isoDay, nextMidnight } from './clock.js';
export { Code } from './codes.js';
export type { RedisTarget } from './connect.js';
export * as ids from './ids.js';
export { agentKeys, DEFAULT_SHARDS, shardOf } from './keys.js';
export { MemoryEngine } from './memory/index.js';
export { costMicros, microsToUsd, usdToMicros } from './money.js';
export {
  EVENT_FIELD,
  OutboxFormatError,
  packEvent,
  UNIT_SEPARATOR,
  unpackEntry,
  unpackEvent,
} from './outbox-format.js';
export { compileProfile, type Profile } from './profile.js';
export { RedisEngine } from './redis/index.js';
export * from './types.js';

export interface EngineOptions {
  /** A Redis URL, an ioredis client or Cluster, or cluster nodes; none: MemoryEngine. */
  redis?: RedisTarget;
  /** Shards per deployment (fixed once data exists). Default 16. */
  shards?: number;
  /** Most expired holds one call frees. Default 2048. */
  maxFreePerCall?: number;
  /**
   * Redis: how long a call is repeated (with the same ids: every operation is
   * safe to repeat) while Redis answers with a failover's error, so that a
   * caller sees a decision rather than an error across a failover shorter
   * than this. Default 8,000 ms; 0: never.
   */
  failoverRetryMs?: number;
  /**
   * Redis: replicas that must acknowledge a write that settles money (settle,
   * usage, register, limit changes) before it is answered; a timeout is a
   * retryable 503. Default 0 (TOLLGATE_REDIS_WAIT_REPLICAS).
   */
  waitReplicas?: number;
  /** Accept a Redis whose maxmemory-policy is not noeviction (not recommended; warns). */
  allowEviction?: boolean;
  /** Where startup warnings go. Default console.warn. */
  warn?: (message: string) => void;
  observer?: ScriptObserver;
}

export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  if (opts.redis === undefined) {
    return new MemoryEngine({ shards: opts.shards, maxFreePerCall: opts.maxFreePerCall });
  }
  const { client, owned } = connect(opts.redis);
  try {
    if (owned) await waitReady(client);
    await checkEvictionPolicy(client, opts.allowEviction, opts.warn);
  } catch (e) {
    if (owned) client.disconnect();
    throw e;
  }
  return new RedisEngine({
    client,
    ownsClient: owned,
    shards: opts.shards,
    maxFreePerCall: opts.maxFreePerCall,
    observer: opts.observer,
    failoverRetryMs: opts.failoverRetryMs,
    waitReplicas: opts.waitReplicas,
  });
}
