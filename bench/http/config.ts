/** The knobs of `npm run bench:http`, in one place. */

const seconds = Number(process.env.BENCH_SECONDS ?? '8');

export const CONFIG = {
  /** Agents registered up front; the load spreads round-robin over them. */
  agents: 1_000,
  role: 'coder',
  operation: 'read_file',
  /** Limits that never deny in a run. */
  limits: { sessionTokenLimit: 1e12, dailyCostLimit: 1e6 },
  estimatedTokens: 1_000,
  usage: { input_tokens: 800, output_tokens: 200 },
  adminToken: 'bench-http-admin-token',
  /** autocannon: connections (no pipelining), warm-up run, then the measured run. */
  connections: 50,
  warmupSeconds: 2,
  /** The measured run; BENCH_SECONDS overrides (default 8). */
  durationSeconds: Number.isFinite(seconds) && seconds > 0 ? seconds : 8,
  floors: {
    /** authorize req/s ÷ GET /healthz req/s, same server, same run. */
    ratioVsTrivial: 0.5,
    /** authorize p99, ms. */
    p99Ms: 20,
  },
} as const;

/** `bench-0000` … */
export function agentIds(n: number = CONFIG.agents): string[] {
  return Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
}
