import { outboxLag, type ShardLag } from '../audit/drain/redis-outbox.js';
import type { DrainStats } from '../audit/embedded/drain.js';
import { MemoryEngine } from '../engine/memory/index.js';
import { RedisEngine } from '../engine/redis/index.js';
import type { Tollgate } from '../index.js';

/** The undrained audit backlog of a Tollgate, per shard, as read now. */
export interface Backlog {
  engine: 'memory' | 'redis';
  shards: ShardLag[];
  /** Embedded mode with a store: the in-process drain's counters. */
  drain: DrainStats | undefined;
}

/**
 * Reads the backlog. Redis mode: each shard's outbox stream (`outboxLag`:
 * XLEN, the oldest entry's age by Redis TIME, XPENDING, the dead letters),
 * read with the engine's own client. Embedded mode: the MemoryEngine's
 * outbox, and the in-process drain's counters when a store is attached.
 * Rejects when Redis does not answer. The metrics read it on each scrape;
 * the API shows it in GET /v1/audit/lag and /readyz (src/api/audit.ts).
 */
export async function readBacklog(tollgate: Tollgate): Promise<Backlog> {
  const { engine } = tollgate;
  if (engine instanceof RedisEngine) {
    const shards = await outboxLag({ redis: engine.redisClient, shards: engine.shards });
    return { engine: 'redis', shards, drain: undefined };
  }
  if (engine instanceof MemoryEngine) {
    const now = Date.now();
    const shards = engine.outboxBacklog().map(
      (b): ShardLag => ({
        shard: b.shard,
        backlog: b.length,
        pending: 0,
        oldestAgeMs: b.oldestMs === null ? 0 : Math.max(0, now - b.oldestMs),
        deadLetters: 0,
      }),
    );
    return { engine: 'memory', shards, drain: tollgate.drain?.stats() };
  }
  // An engine of another kind: nothing known about its outbox.
  return { engine: engine.kind, shards: [], drain: undefined };
}
