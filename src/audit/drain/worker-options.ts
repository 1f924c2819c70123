import type { AlertOptions } from '../../alerts/types.js';
import type { AuditStore } from '../store/types.js';
import type { SweepEngine } from '../sweep.js';
import type { WorkerLog, WorkerRedisTarget } from './connection.js';

/** The audit worker's options and counters (worker.ts). */
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
  /**
   * How often the worker checks that its job schedulers are still in Redis
   * (re-creating them, the queue's meta and the outbox groups when Redis lost
   * them), and reads the outboxes' backlog for the degraded-drain log. Default 2 s.
   */
  healEveryMs?: number;
  /** A shard whose oldest undrained entry is this old is logged as degraded. Default 10 s. */
  stallMs?: number;
  /**
   * Budget alerts to webhooks (src/alerts): their attempts, backoff and time
   * limit; false: this process neither queues nor sends them. Default: on.
   */
  alerts?: AlertOptions | false;
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
  /** Times the worker found its Redis state gone (Redis lost its data) and re-created it. */
  repairs: number;
  /** The last failure, if any. */
  lastError: { at: number; shard: number | null; message: string } | null;
}
