import type { Queue } from 'bullmq';
import { outboxKey } from '../../engine/keys.js';
import type { WorkerLog } from './connection.js';
import { watchDrain } from './monitor.js';
import { GROUP, outboxLag, type RedisClient } from './redis-outbox.js';

/**
 * The audit worker's self-repair (docs/recovery.md, "The drain after a loss").
 *
 * Everything the drain needs in Redis lives in the Redis it drains: the job
 * schedulers `tick` and `sweep` (and the queue's meta hash) under
 * `{tg-audit}`, and each outbox's consumer group `tg-audit`. A FLUSHALL, or a
 * restart without persistence, removes them all; the worker made them once,
 * at its start, so without this the drain would stop for good while the API
 * went on deciding.
 *
 * `check()` asks BullMQ for the schedulers (one small script each). When one
 * is missing, or when told that a shard was restored (the engine's
 * onRecovery: Redis lost that shard), it puts back what is missing: the
 * queue's meta hash, both schedulers (upsert: a no-op for one that exists),
 * the consumer group of every outbox (XGROUP CREATE … 0 MKSTREAM: from the
 * stream's start, so the entries appended since the loss are drained too),
 * then adds a drain job for every shard with a backlog without waiting for the
 * next tick. The worker runs it on a timer (every 2 s) and after each
 * recovery its engine reports. Checks never overlap: one asked for while one
 * runs runs once after it.
 */
export const DEFAULT_HEAL_EVERY_MS = 2_000;

export interface DrainHealerOptions {
  queue: Queue;
  /** The worker's outbox connection. */
  outbox: RedisClient;
  shards: number;
  /** The job schedulers that must exist (`tick`, and `sweep` unless sweeps are off). */
  schedulers: () => readonly string[];
  /** Puts every job scheduler in place (upserts). */
  schedule: () => Promise<void>;
  /** Adds a drain job for each shard with a backlog. */
  addDrains: () => Promise<void>;
  shouldStop: () => boolean;
  log: WorkerLog;
  /** Told the count of repairs after each one. */
  onRepair?: (repairs: number) => void;
}

export interface DrainHealer {
  /**
   * Checks, and repairs what is missing. `groups`: also re-create the outbox
   * groups even if the schedulers are there (a shard was restored). Resolves
   * with what was repaired (empty lists: nothing was missing).
   */
  check(opts?: { groups?: boolean; reason?: string }): Promise<Repair>;
  /** Repairs made since the start. */
  readonly repairs: number;
}

export interface Repair {
  /** Job schedulers that were missing (re-created). */
  schedulers: string[];
  /** Shards whose outbox consumer group was missing (re-created). */
  groups: number[];
}

/** XGROUP CREATE … 0 MKSTREAM: true when it created the group, false when it existed. */
async function createGroup(redis: RedisClient, shard: number): Promise<boolean> {
  try {
    await redis.xgroup('CREATE', outboxKey(shard), GROUP, '0', 'MKSTREAM');
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('BUSYGROUP')) return false;
    throw e;
  }
  return true;
}

export function drainHealer(opts: DrainHealerOptions): DrainHealer {
  const { queue, outbox, shards, log } = opts;
  let running: Promise<Repair> | undefined;
  let again: { groups: boolean; reason: string } | undefined;
  let repairs = 0;

  const once = async (groups: boolean, reason: string): Promise<Repair> => {
    const ids = opts.schedulers();
    const found = await Promise.all(ids.map((id) => queue.getJobScheduler(id)));
    const missing = ids.filter((_, i) => found[i] === undefined);
    const repair: Repair = { schedulers: missing, groups: [] };
    if (missing.length === 0 && !groups) return repair;
    if (opts.shouldStop()) return repair;
    if (missing.length > 0) {
      // The queue's meta hash went with the schedulers (BullMQ writes it once, at the queue's start).
      const meta = queue.keys.meta;
      if (meta !== undefined) await outbox.hset(meta, queue.metaValues);
      await opts.schedule();
    }
    for (let s = 0; s < shards; s++) {
      if (await createGroup(outbox, s)) repair.groups.push(s);
    }
    if (missing.length > 0 || repair.groups.length > 0) {
      repairs++;
      opts.onRepair?.(repairs);
      log(
        'warn',
        'audit drain repaired: Redis had lost its state (a FLUSHALL, or a restart without persistence?); re-created it',
        {
          reason,
          schedulers: missing,
          groups: repair.groups,
        },
      );
    }
    await opts.addDrains();
    return repair;
  };

  const check = (o: { groups?: boolean; reason?: string } = {}): Promise<Repair> => {
    const want = { groups: o.groups ?? false, reason: o.reason ?? 'check' };
    if (running !== undefined) {
      // One runs (Redis away: it waits for the reconnection): one more after it, the asks merged.
      again = { groups: want.groups || (again?.groups ?? false), reason: want.reason };
      return running;
    }
    running = once(want.groups, want.reason).finally(() => {
      running = undefined;
      const a = again;
      again = undefined;
      if (a !== undefined && !opts.shouldStop()) {
        check(a).catch((e: unknown) =>
          log('warn', 'audit drain check failed; the next one goes on', {
            error: e instanceof Error ? e.message : String(e),
          }),
        );
      }
    });
    return running;
  };

  return {
    check,
    get repairs() {
      return repairs;
    },
  };
}

export interface HealingOptions extends DrainHealerOptions {
  /** How often to check, and to read the backlog for the degraded-drain log. Default 2 s. */
  everyMs?: number;
  /** A shard whose oldest undrained entry is this old is degraded. Default 10 s. */
  stallMs?: number;
  /** An engine in this process that reports its restores (RedisEngine.onRecovery): each one starts a check. */
  engine?: unknown;
}

export interface Healing {
  check(opts?: { groups?: boolean; reason?: string }): Promise<Repair>;
  /** A shard was restored (Redis lost it): check at once, the outbox groups included. */
  restored(): void;
  /** The shards whose drain was degraded at the last read. */
  degraded(): number[];
  stop(): void;
}

/**
 * The worker's watch over its Redis state: the healer on a timer and after
 * each restore the engine reports, and the degraded-drain log (monitor.ts).
 */
export function startHealing(opts: HealingOptions): Healing {
  const healer = drainHealer(opts);
  const everyMs = opts.everyMs ?? DEFAULT_HEAL_EVERY_MS;
  let stopped = false;
  const check = healer.check;
  const soon = (reason: string, groups: boolean): void => {
    if (stopped || opts.shouldStop()) return;
    check({ groups, reason }).catch((e: unknown) =>
      opts.log('warn', 'audit drain check failed; the next one goes on', {
        error: e instanceof Error ? e.message : String(e),
      }),
    );
  };
  const timer = setInterval(() => soon('timer', false), everyMs);
  timer.unref();
  const watch = watchDrain({
    lag: () => outboxLag({ redis: opts.outbox, shards: opts.shards }),
    log: opts.log,
    everyMs,
    stallMs: opts.stallMs,
  });
  const restored = (): void => soon('shard restored', true);
  const e = opts.engine as Partial<{ onRecovery(l: () => void): () => void }> | undefined;
  const unsubscribe = typeof e?.onRecovery === 'function' ? e.onRecovery(restored) : undefined;
  return {
    check,
    restored,
    degraded: () => watch.degraded(),
    stop() {
      stopped = true;
      clearInterval(timer);
      watch.stop();
      unsubscribe?.();
    },
  };
}
