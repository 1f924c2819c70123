/** The knobs of `npm run bench:engine`, in one place (the load itself: bench/lib/workload.ts). */
import { envNumber } from '../lib/env.js';

export const CONFIG = {
  /** Concurrency levels: async loops sharing one client. */
  concurrency: [1, 64, 512] as const,
  /** The level of the ours-vs-peer rounds. */
  headToHeadConcurrency: 512,
  /** ours, peer, ours, peer, …; BENCH_ROUNDS overrides (default 3). */
  rounds: Math.round(envNumber('BENCH_ROUNDS', 3)),
  memoryConcurrency: [1, 64] as const,
  warmupMs: 1_000,
  /** Each measurement window; BENCH_SECONDS overrides (default 3). */
  durationMs: Math.round(envNumber('BENCH_SECONDS', 3) * 1000),
  /** redis-benchmark: requests, connections, pipeline depth. */
  redisBenchmark: { n: 200_000, c: 50, P: 16 },
  /** The Cluster part: levels of the 3-master runs (the replica runs use the last); BENCH_CLUSTER_ROUNDS rounds. */
  cluster: {
    concurrency: [64, 512] as const,
    rounds: Math.round(envNumber('BENCH_CLUSTER_ROUNDS', 2)),
  },
  floors: {
    /** Tollgate authorize ops/s ÷ rate-limiter-flexible consume ops/s at headToHeadConcurrency. */
    authorizeVsConsume: 0.6,
    /** Tollgate authorize+settle pairs/s ÷ rate-limiter-flexible consume+reward pairs/s, same level. */
    pairVsPeerPair: 0.5,
    /** MemoryEngine authorize ops/s, at every memoryConcurrency level. */
    memoryAuthorizePerSec: 100_000,
    /** Authorize under a three-level pool hierarchy ÷ the plain agent's, at headToHeadConcurrency. */
    poolsVsPlain: 0.7,
  },
} as const;
