import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Job, Queue, Worker } from 'bullmq';
import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis';
import { DEFAULT_SHARDS, outboxKey } from '../../engine/keys.js';
import type { AuditStore } from '../store/types.js';
import type { SweepEngine, SweepRun } from '../sweep.js';
import { type DrainResult, drainShard, MAX_BATCH } from './drain.js';
import { outboxLag, pruneConsumers, type RedisClient, type ShardLag } from './redis-outbox.js';
import { workerSweep } from './sweep-job.js';

/**
 * The audit worker (DESIGN rule 6), Redis mode: a BullMQ worker that moves
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
 *  - close(): the running drains finish their current batch, then stop.
 */
export const QUEUE_NAME = 'tg-audit';
export const QUEUE_PREFIX = '{tg-audit}';
export const TICK_SCHEDULER_ID = 'tick';

export function drainJobId(shard: number): string {
  return `drain-s${shard}`;
}

export type WorkerRedisTarget =
  | string
  | { clusterNodes: (string | { host: string; port: number })[] };

export type WorkerLogLevel = 'info' | 'warn' | 'error';
export type WorkerLog = (
  level: WorkerLogLevel,
  message: string,
  data?: Record<string, unknown>,
) => void;

export interface AuditWorkerOptions {
  /** A Redis URL or Cluster seed nodes. The worker opens its own connections. */
  redis: WorkerRedisTarget;
  /** The store, or how to open it (retried by the drains until it opens). */
  store: AuditStore | (() => Promise<AuditStore>);
  /** Close the store on close(). Default: true when `store` is a function. */
  ownsStore?: boolean;
  /** Shards per deployment (the engine's). Default 16. */
  shards?: number;
  /** Jobs this process runs at once. Default 4. */
  concurrency?: number;
  /** How often the tick looks for outboxes to drain. Default 200 ms. */
  everyMs?: number;
  /** Events per insert (and about per read), up to 1000. Default 1000. */
  batch?: number;
  /** A drain yields after this long with entries left (the next tick goes on). Default 5 s. */
  maxDrainMs?: number;
  /** BullMQ job lock: a drain whose worker stopped renewing it for this long is stalled. Default 10 s. */
  lockDurationMs?: number;
  /** How often BullMQ looks for stalled jobs. Default 5 s. */
  stalledIntervalMs?: number;
  /** Claim outbox entries pending this long (their consumer died). Default: lockDurationMs. */
  claimIdleMs?: number;
  /** Attempts per drain job before it is dropped and started afresh by a tick. Default 10. */
  attempts?: number;
  /** First retry delay; doubles per attempt. Default 200 ms. */
  backoffMs?: number;
  /** Retry delay ceiling. Default 10 s. */
  maxBackoffMs?: number;
  /** This process's consumer name in the outbox groups. Default `<host>-<pid>-<random>`. */
  consumer?: string;
  /**
   * The engine the background sweep runs with (not closed by the worker);
   * none: the worker opens a RedisEngine on `redis` at the first sweep.
   */
  engine?: SweepEngine;
  /** How often the background sweep runs; 0: never. Default 30 s. */
  sweepEveryMs?: number;
  /** Most Engine.sweepShard steps (about 100 agents each) per sweep run. Default 1,000. */
  sweepMaxSteps?: number;
  log?: WorkerLog;
}

export interface AuditWorkerStats {
  /** Drain jobs completed. */
  drains: number;
  /** Drain attempts that failed (each is retried). */
  failures: number;
  /** Drain jobs BullMQ found stalled (their worker died) and handed on. */
  stalled: number;
  /** Events written to the store (new rows). */
  stored: number;
  /** Events the store already had (redelivered). */
  duplicates: number;
  /** Dead letters written (one per bad event; see DrainResult.deadLettered). */
  deadLettered: number;
  /** Outbox entries claimed from dead consumers. */
  claimed: number;
  /** Background sweep runs completed by this process. */
  sweeps: number;
  /** Agents the sweeps visited. */
  sweptAgents: number;
  /** Holds the sweeps freed (their lease passed and no call had freed them). */
  sweepFreed: number;
  /** The last failure, if any. */
  lastError: { at: number; shard: number | null; message: string } | null;
}

export interface AuditWorker {
  readonly consumer: string;
  readonly queue: Queue;
  readonly worker: Worker;
  stats(): AuditWorkerStats;
  /** Backlog and oldest undrained age per shard. */
  lag(): Promise<ShardLag[]>;
  /** Lets running drains finish their batch, then closes the worker, its connections and (if owned) the store. */
  close(): Promise<void>;
}

interface DrainData {
  shard: number;
}

const defaultLog: WorkerLog = (level, message, data) => {
  const line = JSON.stringify({ level, msg: message, ...data });
  if (level === 'info') process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
};

function parseNode(n: string | { host: string; port: number }): ClusterNode {
  if (typeof n !== 'string') return n;
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(n);
  return { host: m?.[1] || '127.0.0.1', port: Number(m?.[2]) };
}

/**
 * A connection for BullMQ: `maxRetriesPerRequest: null` (BullMQ requires it:
 * its commands wait out a reconnection instead of failing), separate from the
 * engine's fail-fast client.
 */
export function workerConnection(target: WorkerRedisTarget): RedisClient {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2_000),
  };
  const client =
    typeof target === 'string'
      ? new Redis(target, options)
      : new Cluster(target.clusterNodes.map(parseNode), {
          redisOptions: options,
          clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
        });
  return client;
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
      store: s,
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

  try {
    await worker.waitUntilReady();
    await queue.upsertJobScheduler(
      TICK_SCHEDULER_ID,
      { every: opts.everyMs ?? 200 },
      { name: 'tick', data: { shard: -1 }, opts: { removeOnComplete: true, removeOnFail: true } },
    );
    await sweep.schedule(queue);
    await addDrains();
  } catch (e) {
    closing = true;
    clearInterval(pruneTimer);
    await worker.close(true).catch(() => undefined);
    await queue.close().catch(() => undefined);
    await sweep.close().catch(() => undefined);
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
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(pruneTimer);
        await worker.close();
        await queue.close();
        await sweep.close().catch(() => undefined);
        await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
        const s = store ?? (await opening?.catch(() => undefined));
        if (ownsStore && s !== undefined) await s.close();
      })();
      return closed;
    },
  };
}
