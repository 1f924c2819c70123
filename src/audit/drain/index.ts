export {
  DEFAULT_CLAIM_IDLE_MS,
  type DrainResult,
  type DrainShardOptions,
  drainShard,
  MAX_BATCH,
} from './drain.js';
export {
  DEFAULT_HEAL_EVERY_MS,
  type DrainHealer,
  type DrainHealerOptions,
  drainHealer,
  type Healing,
  type HealingOptions,
  type Repair,
  startHealing,
} from './heal.js';
export {
  DRAIN_STALL_MS,
  type DrainWatch,
  type DrainWatchOptions,
  degradedShards,
  isDegraded,
  type LagFacts,
  watchDrain,
  watchEngineDrain,
} from './monitor.js';
export {
  ackAndDelete,
  claimIdle,
  type DeadLetter,
  deadLetterKey,
  ensureGroup,
  GROUP,
  outboxLag,
  pruneConsumers,
  type RedisClient,
  readNew,
  readPending,
  type ShardLag,
  type StreamEntry,
  streamIdMs,
} from './redis-outbox.js';
export {
  DEFAULT_SWEEP_EVERY_MS,
  SWEEP_SCHEDULER_ID,
  type WorkerSweep,
  type WorkerSweepOptions,
  workerSweep,
} from './sweep-job.js';
export {
  type AuditWorker,
  type AuditWorkerOptions,
  type AuditWorkerStats,
  drainJobId,
  QUEUE_NAME,
  QUEUE_PREFIX,
  startAuditWorker,
  TICK_SCHEDULER_ID,
  type WorkerLog,
  type WorkerLogLevel,
  type WorkerRedisTarget,
  workerConnection,
} from './worker.js';
