import { Counter, type Registry } from 'prom-client';
import { RedisEngine } from '../engine/redis/index.js';
import type { Engine } from '../engine/types.js';

/**
 * `tollgate_shard_recoveries_total`: every time this process found a Redis
 * shard without its ready marker (Redis lost the shard, or a new deployment),
 * by outcome: `restored` from the durable store, `unrestored` with no store
 * (docs/recovery.md). Read from the engine on each scrape; none for MemoryEngine.
 */
export function shardRecoveryMetrics(registers: Registry[], engine: Engine): () => void {
  if (!(engine instanceof RedisEngine)) return () => undefined;
  const recoveries = new Counter({
    name: 'tollgate_shard_recoveries_total',
    help: 'Redis shards this process found without their ready marker (Redis lost the shard, or a new deployment), by outcome: restored from the durable store, or unrestored (no store).',
    labelNames: ['outcome'] as const,
    registers,
  });
  recoveries.inc({ outcome: 'restored' }, 0);
  recoveries.inc({ outcome: 'unrestored' }, 0);
  let counted = 0;
  return () => {
    const { total, recent } = engine.shardRecoveries();
    // The history is bounded: the newest (total - counted) of it are new since the last scrape.
    for (const r of recent.slice(Math.max(0, recent.length - (total - counted)))) {
      recoveries.inc({ outcome: r.outcome === 'restored' ? 'restored' : 'unrestored' });
    }
    counted = total;
  };
}
