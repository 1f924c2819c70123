import type { Queue } from 'bullmq';
import { connect, type RedisTarget, waitReady } from '../../engine/connect.js';
import { RedisEngine } from '../../engine/redis/index.js';
import type { Engine } from '../../engine/types.js';
import { storeRecovery } from '../recovery/index.js';
import type { AuditStore } from '../store/types.js';
import { createSweeper, type SweepEngine, type SweepRun } from '../sweep.js';
import type { WorkerLog, WorkerRedisTarget } from './connection.js';
import type { AuditWorkerStats } from './worker-options.js';

/**
 * The background sweep as a job of the audit worker (Redis mode): a BullMQ
 * job scheduler `sweep` (every 30 s by default) makes one `sweep` job at a
 * time; the worker that runs it walks every shard's agents with
 * Engine.sweepShard (src/audit/sweep.ts) from its cursors, at most
 * `maxSteps` steps per run, freeing holds whose lease passed on agents no
 * call touches.
 *
 * The engine: the one given (`serve --with-worker` gives the API's), or a
 * RedisEngine the worker opens on its Redis at the first sweep, with the
 * store as its recovery source (a shard that lost its data is restored from
 * the store, never marked ready empty by a sweep).
 */
export const SWEEP_SCHEDULER_ID = 'sweep';
export const DEFAULT_SWEEP_EVERY_MS = 30_000;

export interface WorkerSweepOptions {
  redis: WorkerRedisTarget;
  shards: number;
  /** An engine to sweep with (not closed by the worker); none: the worker opens a RedisEngine. */
  engine?: SweepEngine;
  /** The worker's store (recovery source of the engine it opens). */
  getStore: () => Promise<AuditStore>;
  /** How often a sweep runs; 0: never (the scheduler is removed). Default 30 s. */
  everyMs?: number;
  /** Most sweepShard steps per run. Default 1,000. */
  maxSteps?: number;
  /** A run stops after this long; the next run goes on from the cursors. Default 10 s. */
  maxMs?: number;
  shouldStop: () => boolean;
  log: WorkerLog;
  /** The worker's counters the sweeps add to. */
  stats: Pick<AuditWorkerStats, 'sweeps' | 'sweptAgents' | 'sweepFreed'>;
}

export interface WorkerSweep {
  /** Whether sweeps run (everyMs > 0): the `sweep` job scheduler must then exist. */
  readonly enabled: boolean;
  /** Told of each shard the engine the worker opened restored (Redis lost that shard). */
  onRecovery(listener: () => void): void;
  /** Puts the `sweep` job scheduler in place (or removes it when everyMs is 0). */
  schedule(queue: Queue): Promise<void>;
  /** The `sweep` job: one run, counted in the worker's stats. */
  process(): Promise<SweepRun | undefined>;
  /** Closes the engine the worker opened (if it did). */
  close(): Promise<void>;
}

export function workerSweep(opts: WorkerSweepOptions): WorkerSweep {
  const open = async (): Promise<Engine> => {
    const { client } = connect(opts.redis as RedisTarget);
    try {
      await waitReady(client);
    } catch (e) {
      client.disconnect();
      throw e;
    }
    const engine = new RedisEngine({ client, ownsClient: true, shards: opts.shards });
    const reads = {
      agents: async () => (await opts.getStore()).agents(),
      totals: async (atMs: number, zones?: Iterable<string>) =>
        (await opts.getStore()).totals(atMs, zones),
      pools: async (atMs: number) => {
        const store = await opts.getStore();
        return store.pools === undefined ? [] : store.pools(atMs);
      },
    };
    engine.configureRecovery({
      source: storeRecovery(reads, { shards: opts.shards }),
      warn: (message) => opts.log('warn', message),
    });
    engine.onRecovery(() => recovered?.());
    return engine;
  };
  let owned: Promise<Engine> | undefined;
  let recovered: (() => void) | undefined;
  const openEngine = (): Promise<Engine> => {
    owned ??= open().catch((e: unknown) => {
      owned = undefined; // the next sweep tries again
      throw e;
    });
    return owned;
  };
  // The sweeper walks through this indirection: the engine is opened at the first step.
  const engine: SweepEngine = opts.engine ?? {
    shards: opts.shards,
    sweepShard: async (shard, cursor) => (await openEngine()).sweepShard(shard, cursor),
  };
  const sweeper = createSweeper(engine, {
    maxSteps: opts.maxSteps,
    maxMs: opts.maxMs,
    shouldStop: opts.shouldStop,
  });
  const everyMs = opts.everyMs ?? DEFAULT_SWEEP_EVERY_MS;
  const { stats, log } = opts;
  return {
    enabled: everyMs > 0,
    onRecovery(listener) {
      recovered = listener;
    },
    async schedule(queue) {
      if (everyMs <= 0) {
        await queue.removeJobScheduler(SWEEP_SCHEDULER_ID);
        return;
      }
      await queue.upsertJobScheduler(
        SWEEP_SCHEDULER_ID,
        { every: everyMs },
        {
          name: 'sweep',
          data: { shard: -1 },
          opts: { removeOnComplete: true, removeOnFail: true },
        },
      );
    },
    async process() {
      // Sweeps off: a sweep job an earlier scheduler left in the queue is done without sweeping.
      if (everyMs <= 0 || opts.shouldStop()) return undefined;
      const r = await sweeper.run();
      stats.sweeps++;
      stats.sweptAgents += r.agents;
      stats.sweepFreed += r.freed;
      if (r.freed > 0) log('info', 'background sweep freed expired holds', { ...r });
      return r;
    },
    async close() {
      const e = await owned?.catch(() => undefined);
      await e?.close();
    },
  };
}
