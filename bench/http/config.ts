/** The knobs of `npm run bench:http`, in one place (the agents and the decision: bench/lib/workload.ts). */
import { envNumber } from '../lib/env.js';

export const CONFIG = {
  adminToken: 'bench-http-admin-token',
  /** autocannon: connections (no pipelining), warm-up run, then the measured run. */
  connections: 50,
  warmupSeconds: 2,
  /** The measured run; BENCH_SECONDS overrides (default 8). */
  durationSeconds: envNumber('BENCH_SECONDS', 8),
  floors: {
    /** authorize req/s ÷ GET /healthz req/s, same server, same run. */
    ratioVsTrivial: 0.5,
    /** authorize p99, ms. */
    p99Ms: 20,
  },
} as const;
