import { shardOf } from '../../engine/keys.js';
import type { EngineSnapshot } from '../../engine/memory/index.js';
import type { RecoverySource } from '../../engine/redis/index.js';
import { dayStartOf, snapshotFromStore } from '../embedded/restore.js';
import type { AuditStore } from '../store/types.js';

/**
 * Recovery in Redis mode (ARCHITECTURE.md, rule 'Redis decides; the store
 * remembers and restores'; docs/recovery.md): the durable store
 * as the source RedisEngine restores a shard from when the shard's ready
 * marker is missing. The snapshot is the embedded restore's
 * (snapshotFromStore): the registry, each agent's spend (and overrun) on its
 * day and month local to its time zone at Redis's `now`, and its current
 * session's tokens, cost, overrun tokens and denials.
 */
export interface StoreRecoveryOptions {
  /** The engine's shard count (a shard's agents are picked by shardOf). */
  shards: number;
}

/**
 * The store as a RecoverySource. The store has no shard column, so a read
 * serves every shard; after a FLUSHALL all shards need one at about the same
 * time. Each load is served by a read that started after it was asked for
 * (never by an older one, which could miss events the worker stored since),
 * and the loads that arrive while a read runs share the next one: at most
 * two reads for any burst of recoveries. The reads are `agents()` and
 * `totals()`, which a PostgresStore runs on a pool of their own (2
 * connections): audit reads cannot take the connections recovery needs.
 */
export function storeRecovery(
  store: Pick<AuditStore, 'agents' | 'totals' | 'pools'>,
  opts: StoreRecoveryOptions,
): RecoverySource {
  let running: Promise<EngineSnapshot> | undefined;
  let queued: { dayStartMs: number; snap: Promise<EngineSnapshot> } | undefined;

  const launch = (nowMs: number): Promise<EngineSnapshot> => {
    const p = snapshotFromStore(store, nowMs);
    running = p;
    const done = () => {
      if (running === p) running = undefined;
    };
    p.then(done, done);
    return p;
  };

  const read = (nowMs: number): Promise<EngineSnapshot> => {
    const prev = running;
    if (prev === undefined) return launch(nowMs);
    const dayStartMs = dayStartOf(nowMs);
    if (queued !== undefined && queued.dayStartMs === dayStartMs) return queued.snap;
    const after = () => {
      if (queued === entry) queued = undefined;
      return launch(nowMs);
    };
    const entry = { dayStartMs, snap: prev.then(after, after) };
    queued = entry;
    return entry.snap;
  };

  return {
    async load(shard, nowMs) {
      const snap = await read(nowMs);
      return {
        dayStartMs: snap.dayStartMs,
        ...(snap.atMs === undefined ? {} : { atMs: snap.atMs }),
        // Its agents (at home, or its directory's) and those in pools, which may
        // live here; every pool: the recoverer places them (recovery-pools.ts).
        agents: snap.agents.filter(
          (a) => a.poolId !== undefined || shardOf(a.agentId, opts.shards) === shard,
        ),
        ...(snap.pools === undefined ? {} : { pools: snap.pools }),
      };
    },
  };
}
