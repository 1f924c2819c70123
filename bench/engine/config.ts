/** The knobs of `npm run bench:engine`, in one place. */

const seconds = Number(process.env.BENCH_SECONDS ?? '3');

export const CONFIG = {
  /** Agents registered up front (and the peer's keys: the same ids). */
  agents: 1_000,
  /** Concurrency levels: async loops sharing one client. */
  concurrency: [1, 64, 512] as const,
  /** The level of the ours-vs-peer rounds. */
  headToHeadConcurrency: 512,
  /** ours, peer, ours, peer, … */
  rounds: 3,
  memoryConcurrency: [1, 64] as const,
  warmupMs: 1_000,
  /** Each measurement window; BENCH_SECONDS overrides (default 3). */
  durationMs: Math.round((Number.isFinite(seconds) && seconds > 0 ? seconds : 3) * 1000),
  /** Tokens estimated by each authorize, and the usage each pair settles. */
  estimatedTokens: 1_000,
  usage: { inputTokens: 800, outputTokens: 200 },
  operation: 'read_file',
  role: 'coder',
  limits: { sessionTokenLimit: 1e12, dailyCostLimit: 1e6 },
  /** redis-benchmark: requests, connections, pipeline depth. */
  redisBenchmark: { path: '/usr/bin/redis-benchmark', n: 200_000, c: 50, P: 16 },
  floors: {
    /** Tollgate authorize ops/s ÷ rate-limiter-flexible consume ops/s at headToHeadConcurrency. */
    ratioVsPeer: 0.6,
    /** MemoryEngine authorize ops/s, at every memoryConcurrency level. */
    memoryAuthorizePerSec: 100_000,
  },
} as const;

/** `bench-0000` … : the agent ids (also the peer's keys). */
export function agentIds(n: number = CONFIG.agents): string[] {
  return Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
}
