/** The knobs of `npm run bench:audit`, in one place (the agents and the decision: bench/lib/workload.ts). */
import { envNumber } from '../lib/env.js';

export const CONFIG = {
  /** Decision events put in the outboxes before each drain run; BENCH_AUDIT_EVENTS overrides. */
  events: Math.round(envNumber('BENCH_AUDIT_EVENTS', 100_000)),
  /** Concurrent checkPermission loops that fill the outboxes (bench/engine's head-to-head level). */
  fillConcurrency: 512,
  /** drainShard run directly: this many shards drained at once (the worker's default concurrency). */
  drainConcurrency: 4,
  /** The Redis-side ceilings (ceiling.ts): authorize script calls by redis-benchmark. */
  ceiling: {
    /** Decisions per call: a lone decision, what 512 callers over 16 shards make, the batcher's most. */
    decisionsPerCall: [1, 32, 128],
    /** Calls per figure: this many decisions in all (at least minCalls calls). */
    decisionsPerRun: 200_000,
    minCalls: 1_000,
    /** One decision per call: bench/engine's settings (50 connections, 16 deep). */
    single: { clients: 50, pipeline: 16 },
    /** A batch is a long call (~1 ms): 16 connections, one call each in flight, keep Redis busy. */
    batch: { clients: 16, pipeline: 1 },
  },
  /** A drain run that has not finished after this long fails the bench. */
  drainTimeoutMs: 90_000,
  lag: {
    /** Decisions per second, open loop (issued on a clock, not when the last one answers); BENCH_AUDIT_RATE overrides. */
    rate: envNumber('BENCH_AUDIT_RATE', 8_000),
    /** Load before the window (the worker starts, the tables warm up). */
    warmupMs: 3_000,
    /** The window: events whose `at` falls in it are the lag samples; BENCH_SECONDS overrides (default 20). */
    durationMs: Math.round(envNumber('BENCH_SECONDS', 20) * 1000),
    /** How often the generator wakes to issue what the clock says is due. */
    tickMs: 5,
    /** Above this many decisions in flight the generator stops issuing (the run reports it). */
    maxInFlight: 5_000,
    /** How often the outbox backlog (sum of XLEN) is sampled. */
    backlogEveryMs: 250,
    /** After the load stops, the backlog must be gone within this long. */
    settleTimeoutMs: 30_000,
  },
  floors: {
    /** Lag p99, ms. */
    lagP99Ms: 1_000,
  },
} as const;
