import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Job, Queue, Worker } from 'bullmq';
import { type AlertDelivery, startRedisAlerts, withAlerts } from '../../alerts/index.js';
import { DEFAULT_SHARDS, outboxKey } from '../../engine/keys.js';
import type { AuditStore } from '../store/types.js';
import type { SweepRun } from '../sweep.js';
import { defaultLog, workerConnection } from './connection.js';
import { type DrainResult, drainShard, MAX_BATCH } from './drain.js';
import { type Repair, startHealing } from './heal.js';
import { ensureGroup, outboxLag, pruneConsumers, type ShardLag } from './redis-outbox.js';
import { SWEEP_SCHEDULER_ID, workerSweep } from './sweep-job.js';
import type { AuditWorkerOptions, AuditWorkerStats } from './worker-options.js';

/**
 * The audit worker (ARCHITECTURE.md, rule 'No decision without its audit
 * event'), Redis mode: a BullMQ worker that moves
 * every shard's outbox into the store.
 *
 *  - Queue `tg-audit` under the prefix `{tg-audit}`: the hash tag puts all of
 *    BullMQ's keys in one Redis Cluster slot, as its multi-key scripts need.
 *  - A job scheduler `tick` (every `everyMs`, default 200 ms) produces one tick
 *    job at a time; a tick adds a `drain` job for each shard whose outbox is
 *    not empty, with the fixed job id `drain-s<n>`. BullMQ does not add a job
 *    whose id exists, so while a shard's drain waits, runs or waits out a
 *    retry's backoff, no second one can start: one drain per shard at a time,
 *    across all worker processes.
 *  - A drain that throws (the store is down) fails its attempt; BullMQ retries
 *    it with exponential backoff (capped). After the last attempt it is
 *    removed, and the next tick starts a fresh one: retries never end while
 *    there is a backlog, and each failure is logged and counted.
 *  - A worker that dies mid-drain loses its job lock; BullMQ's stalled check
 *    moves the job back to wait, another worker runs it, and the drain claims
 *    the dead consumer's pending entries (XAUTOCLAIM) before reading new ones.
 *  - A second job scheduler `sweep` (every 30 s) runs the background sweep:
 *    holds whose lease passed are freed on agents no call touches
 *    (sweep-job.ts).
 *  - Redis losing its data (FLUSHALL, a restart without persistence) takes
 *    the schedulers and the outbox groups with it: every 2 s, and after each
 *    shard restore the engine reports, the worker checks them and re-creates
 *    what is missing (heal.ts); it also logs each shard whose drain stops
 *    advancing for 10 s, and when it drains again (monitor.ts).
 *  - Budget alerts (src/alerts): a drain that stores budget_alert events
 *    queues their deliveries on the BullMQ queue `{tg-alerts}` before it
 *    acknowledges them, and this process sends them (`alerts: false`: not here).
 *  - close(): the running drains finish their current batch, then stop.
 */
export const QUEUE_NAME = 'tg-audit';
export const QUEUE_PREFIX = '{tg-audit}';
export const TICK_SCHEDULER_ID = 'tick';

export function drainJobId(shard: number): string {
  return `drain-s${shard}`;
}

export {
  defaultLog,
  type WorkerLog,
  type WorkerLogLevel,
  type WorkerRedisTarget,
  workerConnection,
} from './connection.js';

export type { AuditWorkerOptions, AuditWorkerStats } from './worker-options.js';

export interface AuditWorker {
  readonly consumer: string;
  readonly queue: Queue;
  readonly worker: Worker;
  stats(): AuditWorkerStats;
  /** Backlog and oldest undrained age per shard. */
  lag(): Promise<ShardLag[]>;
  /** Checks the worker's Redis state now and re-creates what is missing (as its timer does). */
  repair(): Promise<Repair>;
  /** The shards whose drain the worker last saw degraded (no progress for `stallMs`). */
  degraded(): number[];
  /** The alert deliveries this process sends (src/alerts; queue `{tg-alerts}`); absent with `alerts: false`. */
  readonly alerts?: AlertDelivery;
  /** Lets running drains finish their batch, then closes the worker, its connections and (if owned) the store. */
  close(): Promise<void>;
}

interface DrainData {
  shard: number;
}

/** Starts the audit worker; resolves once it is connected and its scheduler is in place. */
export async function startAuditWorker(opts: AuditWorkerOptions): Promise<AuditWorker> {
  const shards = opts.shards ?? DEFAULT_SHARDS;
  const log = opts.log ?? defaultLog;
  const lockDuration = opts.lockDurationMs ?? 10_000;
  const claimIdleMs = opts.claimIdleMs ?? lockDuration;
  const backoffMs = opts.backoffMs ?? 200;
  const maxBackoffMs = opts.maxBackoffMs ?? 10_000;
  const consumer =
    opts.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const ownsStore = opts.ownsStore ?? typeof opts.store === 'function';
  const stats: AuditWorkerStats = {
    drains: 0,
    failures: 0,
    stalled: 0,
    stored: 0,
    duplicates: 0,
    deadLettered: 0,
    claimed: 0,
    sweeps: 0,
    sweptAgents: 0,
    sweepFreed: 0,
    repairs: 0,
    lastError: null,
  };

  // The store: opened on first use; a failure to open fails that drain (retried).
  let store: AuditStore | undefined = typeof opts.store === 'function' ? undefined : opts.store;
  let opening: Promise<AuditStore> | undefined;
  const getStore = (): Promise<AuditStore> => {
    if (store !== undefined) return Promise.resolve(store);
    const open = opts.store as () => Promise<AuditStore>;
    opening ??= open().then(
      (s) => {
        store = s;
        log('info', 'audit store open', { store: s.kind });
        return s;
      },
      (e: unknown) => {
        opening = undefined;
        throw e;
      },
    );
    return opening;
  };

  const bull = workerConnection(opts.redis);
  const outbox = workerConnection(opts.redis);
  const connections = [bull, outbox];
  for (const c of connections) c.on('error', () => undefined);
  let closing = false;

  const drainJobOpts = {
    attempts: opts.attempts ?? 10,
    backoff: { type: 'capped-exponential' },
    removeOnComplete: true,
    removeOnFail: true,
  };

  const queue = new Queue<DrainData>(QUEUE_NAME, {
    connection: bull,
    prefix: QUEUE_PREFIX,
    // BullMQ's own event stream: a tick every 200 ms makes plenty; keep the last ~1,000.
    streams: { events: { maxLen: 1_000 } },
  });
  queue.on('error', (e) => log('error', 'audit queue error', { error: e.message }));

  /** Adds a drain job for every shard whose outbox holds entries (a no-op for a shard whose drain exists). */
  const addDrains = async (): Promise<void> => {
    const lengths = await Promise.all(
      Array.from({ length: shards }, (_, s) => outbox.xlen(outboxKey(s))),
    );
    const jobs = lengths.flatMap((n, shard) =>
      n > 0
        ? [{ name: 'drain', data: { shard }, opts: { ...drainJobOpts, jobId: drainJobId(shard) } }]
        : [],
    );
    if (jobs.length > 0) await queue.addBulk(jobs);
  };

  const sweep = workerSweep({
    redis: opts.redis,
    shards,
    engine: opts.engine,
    getStore,
    everyMs: opts.sweepEveryMs,
    maxSteps: opts.sweepMaxSteps,
    shouldStop: () => closing,
    log,
    stats,
  });

  const process_ = async (job: Job<DrainData>): Promise<DrainResult | SweepRun | undefined> => {
    if (job.name === 'tick') {
      if (!closing) await addDrains();
      return undefined;
    }
    if (job.name === 'sweep') return sweep.process();
    const shard = job.data.shard;
    const s = await getStore();
    const r = await drainShard({
      redis: outbox,
      store: alerts ? withAlerts(s, alerts) : s,
      shard,
      consumer,
      batch: opts.batch ?? MAX_BATCH,
      claimIdleMs,
      maxMs: opts.maxDrainMs ?? 5_000,
      shouldStop: () => closing,
      // Counted per stored group: a drain that stores some groups and then fails still counts them.
      onStored: (c) => {
        stats.stored += c.stored;
        stats.duplicates += c.duplicates;
        stats.deadLettered += c.deadLettered;
      },
      onDeadLetter: (d) =>
        log('warn', 'outbox event moved to dead letters', {
          shard: d.shard,
          entry: d.id,
          event_id: d.fields.event_id,
          error: d.error,
        }),
    });
    if (r.busy) {
      // This process is still running the shard's previous drain: its job lock lapsed (CPU starvation).
      const why = 'drain of a shard already draining in this process skipped (its job lock lapsed)';
      log('warn', why, { shard });
      return r;
    }
    stats.drains++;
    stats.claimed += r.claimed;
    if (r.claimed > 0) {
      log('warn', 'claimed entries left pending by a stopped consumer', {
        shard,
        claimed: r.claimed,
      });
    }
    return r;
  };

  // Budget alerts: queued by the drains as they store them, sent by this process (src/alerts).
  const alerts =
    opts.alerts === false
      ? undefined
      : await startRedisAlerts(opts.redis, getStore, { log, ...opts.alerts }).catch(
          async (e: unknown) => {
            await queue.close().catch(() => undefined);
            await sweep.close().catch(() => undefined);
            for (const c of connections) c.disconnect();
            throw e;
          },
        );

  const worker = new Worker<DrainData>(QUEUE_NAME, process_, {
    connection: bull,
    prefix: QUEUE_PREFIX,
    name: consumer,
    concurrency: opts.concurrency ?? 4,
    lockDuration,
    stalledInterval: opts.stalledIntervalMs ?? 5_000,
    settings: {
      // Exponential, capped, with ±20% jitter so shards do not retry in step.
      backoffStrategy: (attemptsMade: number) => {
        const base = Math.min(backoffMs * 2 ** Math.max(0, attemptsMade - 1), maxBackoffMs);
        return Math.round(base * (0.8 + 0.4 * Math.random()));
      },
    },
  });
  worker.on('failed', (job, err) => {
    if (job?.name === 'sweep') {
      log('warn', 'background sweep failed; the next one goes on', { error: err.message });
      return;
    }
    const shard = job?.name === 'drain' ? (job.data.shard ?? null) : null;
    stats.failures++;
    stats.lastError = { at: Date.now(), shard, message: err.message };
    log('warn', 'audit drain failed; will retry', {
      job: job?.id,
      shard,
      attempt: job?.attemptsMade,
      attempts: job?.opts.attempts,
      error: err.message,
    });
  });
  worker.on('stalled', (jobId) => {
    stats.stalled++;
    log('warn', 'audit drain stalled (its worker stopped); handed on', { job: jobId });
  });
  worker.on('error', (e) => {
    if (!closing) log('error', 'audit worker error', { error: e.message });
  });

  const prune = async () => {
    for (let s = 0; s < shards && !closing; s++) {
      await pruneConsumers(outbox, s, 3_600_000, consumer);
    }
  };
  const pruneTimer = setInterval(() => {
    prune().catch((e: unknown) =>
      log('warn', 'consumer cleanup failed', { error: (e as Error).message }),
    );
  }, 600_000);
  pruneTimer.unref();

  const schedule = async (): Promise<void> => {
    await queue.upsertJobScheduler(
      TICK_SCHEDULER_ID,
      { every: opts.everyMs ?? 200 },
      { name: 'tick', data: { shard: -1 }, opts: { removeOnComplete: true, removeOnFail: true } },
    );
    await sweep.schedule(queue);
  };

  // Redis losing its data takes the schedulers and the outbox groups with it: put them back (heal.ts).
  const healing = startHealing({
    queue,
    outbox,
    shards,
    schedulers: () =>
      sweep.enabled ? [TICK_SCHEDULER_ID, SWEEP_SCHEDULER_ID] : [TICK_SCHEDULER_ID],
    schedule,
    addDrains,
    shouldStop: () => closing,
    log,
    everyMs: opts.healEveryMs,
    stallMs: opts.stallMs,
    engine: opts.engine,
    onRepair: (n) => {
      stats.repairs = n;
    },
  });
  sweep.onRecovery(healing.restored);
  const stopWatching = (): void => {
    clearInterval(pruneTimer);
    healing.stop();
  };

  try {
    await worker.waitUntilReady();
    await schedule();
    // Every outbox's group from the start, so that a group found missing later means Redis lost it.
    for (let s = 0; s < shards; s++) await ensureGroup(outbox, s);
    await addDrains();
  } catch (e) {
    closing = true;
    stopWatching();
    await worker.close(true).catch(() => undefined);
    await queue.close().catch(() => undefined);
    await sweep.close().catch(() => undefined);
    await alerts?.close().catch(() => undefined);
    for (const c of connections) c.disconnect();
    throw e;
  }

  let closed: Promise<void> | undefined;
  return {
    consumer,
    queue,
    worker,
    stats: () => ({ ...stats }),
    lag: () => outboxLag({ redis: outbox, shards }),
    repair: () => healing.check({ groups: true, reason: 'asked' }),
    degraded: () => healing.degraded(),
    ...(alerts ? { alerts } : {}),
    close() {
      closed ??= (async () => {
        closing = true;
        stopWatching();
        await worker.close();
        await queue.close();
        await sweep.close().catch(() => undefined);
        await alerts?.close().catch(() => undefined);
        await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
        const s = store ?? (await opening?.catch(() => undefined));
        if (ownsStore && s !== undefined) await s.close();
      })();
      return closed;
    },
  };
}
