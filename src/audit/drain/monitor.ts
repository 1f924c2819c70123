import type { Engine } from '../../engine/types.js';
import type { WorkerLog } from './connection.js';
import { outboxLag, type RedisClient } from './redis-outbox.js';

/**
 * Whether the audit drain keeps up, from facts every process can read in
 * Redis: per shard, the outbox backlog (XLEN: stored entries are deleted, so
 * it is exactly what is not in the store yet) and the age of its oldest entry
 * (Redis TIME minus the entry's stream id). A drain that moves a shard on
 * deletes its oldest entries, so an entry that stays for `DRAIN_STALL_MS`
 * means that shard's drain has not advanced for that long (stopped, failing,
 * or that far behind): the shard is **degraded**. The API processes tell it
 * in /readyz and /metrics (src/api/routes/health.ts, src/metrics), without
 * asking the worker; the worker and `tollgate serve` log it (docs/recovery.md).
 */
export const DRAIN_STALL_MS = 10_000;
export const DEFAULT_WATCH_EVERY_MS = 2_000;

/** A shard's backlog as the outbox shows it. */
export interface LagFacts {
  shard: number;
  /** Entries not yet stored. */
  backlog: number;
  /** Age of the oldest, ms (0 when none). */
  oldestAgeMs: number;
}

/** A shard's drain is degraded: entries wait, the oldest for `stallMs` or more. */
export function isDegraded(l: LagFacts, stallMs = DRAIN_STALL_MS): boolean {
  return l.backlog > 0 && l.oldestAgeMs >= stallMs;
}

/** The shards whose drain is degraded. */
export function degradedShards<T extends LagFacts>(
  lag: readonly T[],
  stallMs = DRAIN_STALL_MS,
): T[] {
  return lag.filter((l) => isDegraded(l, stallMs));
}

export interface DrainWatch {
  /** Reads the outboxes now and logs the shards that became degraded or recovered since the last read. */
  check(): Promise<void>;
  /** The shards degraded at the last read. */
  degraded(): number[];
  stop(): void;
}

export interface DrainWatchOptions {
  /** The outboxes' backlog per shard (outboxLag). */
  lag: () => Promise<LagFacts[]>;
  log: WorkerLog;
  /** How often to read; 0: only when check() is called. Default 2 s. */
  everyMs?: number;
  /** Default DRAIN_STALL_MS (10 s). */
  stallMs?: number;
}

/**
 * Logs one line when a shard's drain becomes degraded (warn) and one when it
 * is no longer (info), each with the shard, its backlog and the oldest age.
 * A read that fails changes nothing (Redis away: the engine says so).
 */
export function watchDrain(opts: DrainWatchOptions): DrainWatch {
  const stallMs = opts.stallMs ?? DRAIN_STALL_MS;
  const everyMs = opts.everyMs ?? DEFAULT_WATCH_EVERY_MS;
  /** Degraded shards, and since when (ms, this process's clock). */
  const since = new Map<number, number>();
  let reading: Promise<void> | undefined;
  let stopped = false;

  const read = async (): Promise<void> => {
    let lag: LagFacts[];
    try {
      lag = await opts.lag();
    } catch {
      return;
    }
    if (stopped) return;
    const now = Date.now();
    const bad = new Map(degradedShards(lag, stallMs).map((l) => [l.shard, l]));
    for (const [shard, l] of bad) {
      if (since.has(shard)) continue;
      since.set(shard, now);
      opts.log(
        'warn',
        `audit drain degraded: the shard's oldest undrained event is ${stallMs / 1000} s old or more (the drain stopped, fails, or is that far behind)`,
        {
          shard,
          backlog: l.backlog,
          oldest_age_ms: l.oldestAgeMs,
        },
      );
    }
    for (const [shard, from] of since) {
      if (bad.has(shard)) continue;
      since.delete(shard);
      const l = lag.find((x) => x.shard === shard);
      opts.log('info', 'audit drain recovered: the shard drains again', {
        shard,
        backlog: l?.backlog ?? 0,
        oldest_age_ms: l?.oldestAgeMs ?? 0,
        degraded_ms: now - from,
      });
    }
  };

  const check = (): Promise<void> => {
    reading ??= read().finally(() => {
      reading = undefined;
    });
    return reading;
  };
  const timer =
    everyMs > 0
      ? setInterval(() => {
          void check();
        }, everyMs)
      : undefined;
  timer?.unref();

  return {
    check,
    degraded: () => [...since.keys()].sort((a, b) => a - b),
    stop() {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
    },
  };
}

/** The watch of an engine's outboxes (Redis mode), for an API process with no worker of its own; undefined for another engine. */
export function watchEngineDrain(
  engine: Engine,
  log: WorkerLog,
  opts: Omit<DrainWatchOptions, 'lag' | 'log'> = {},
): DrainWatch | undefined {
  const e = engine as Partial<{ redisClient: RedisClient }>;
  if (engine.kind !== 'redis' || e.redisClient === undefined) return undefined;
  const redis = e.redisClient;
  return watchDrain({ ...opts, log, lag: () => outboxLag({ redis, shards: engine.shards }) });
}
