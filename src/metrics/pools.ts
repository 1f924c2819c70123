import { Counter, Gauge, type Registry } from 'prom-client';
import { sortPools } from '../budget/pools.js';
import type { Engine, PoolStatus } from '../engine/types.js';
import { within } from './within.js';

/**
 * The pools' metrics (docs/metrics.md, "Pools"): gauges of each pool's spend,
 * holds and limits, rebuilt on each scrape from one `engine.listPools()` read
 * (one script per shard, in parallel, as `GET /v1/pools`), and the pool
 * denials counted as decisions are answered. Label `pool` is the pool's id: at
 * most `maxPools` pools have series (roots first, then by id), and the
 * denials of pools past that bound count under `pool="_other"` (a pool id
 * cannot start with `_`), so the series are bounded by the option, not by
 * the pools created.
 */

/** Pools with series, by default (the `maxPools` option). */
export const DEFAULT_MAX_POOLS = 1_000;
/** The `pool` label of a denial by a pool past `maxPools`. */
export const OTHER_POOL = '_other';
/** The `limit` label of tollgate_pool_denials_total: the pool's limit that denied. */
export const POOL_LIMITS = [
  'daily_cost',
  'monthly_cost',
  'requests_per_minute',
  'tokens_per_minute',
] as const;
export type PoolLimit = (typeof POOL_LIMITS)[number];

/**
 * What a denial says about the level that denied, as the decision carries it
 * on the wire (`level`, `exceeded`, `period`: src/api/routes/gate.schemas.ts).
 * Absent: the decision is not counted by pool.
 */
export interface PoolDenialObservation {
  /** Whose limit denied: `agent`, or the pool's id. */
  level?: string | null;
  /** `pool` (a pool's cost limit, see `period`), `requests_per_minute`, `tokens_per_minute`, … */
  exceeded?: string | null;
  /** With `exceeded: 'pool'`: `daily` or `monthly`. */
  period?: string | null;
}

/** The pool and its limit that made a denial; undefined when the agent's own limit (or no limit) did. */
export function poolDenial(
  d: PoolDenialObservation,
): { poolId: string; limit: PoolLimit } | undefined {
  const { level, exceeded } = d;
  if (typeof level !== 'string' || level === 'agent') return undefined;
  if (exceeded === 'pool') {
    return { poolId: level, limit: d.period === 'monthly' ? 'monthly_cost' : 'daily_cost' };
  }
  if (exceeded === 'requests_per_minute' || exceeded === 'tokens_per_minute') {
    return { poolId: level, limit: exceeded };
  }
  return undefined;
}

export interface PoolMetrics {
  /** Reads the pools (within the scrape timeout), rebuilds their gauges and says so in `source_up{source="pools"}`. */
  read(): Promise<void>;
  /** A denial answered (not a replay): counted by pool when a pool's limit denied. */
  denied(d: PoolDenialObservation): void;
}

const USD = 1_000_000;

/** The pools' metrics; `maxPools` 0: none (no series, no read). */
export function poolMetrics(
  registers: Registry[],
  sourceUp: Gauge<'source'>,
  opts: { engine: Engine; maxPools?: number; timeoutMs: number },
): PoolMetrics {
  const { engine, timeoutMs } = opts;
  const maxPools = Math.max(0, Math.floor(opts.maxPools ?? DEFAULT_MAX_POOLS));
  if (maxPools === 0) return { read: async () => undefined, denied: () => undefined };
  const perPool = ['pool'] as const;
  const perPeriod = ['pool', 'period'] as const;
  const pools = new Gauge({
    name: 'tollgate_pools',
    help: 'Pools that exist, by depth (1 a root, up to 3): all of them, also those past maxPools, which have no tollgate_pool_* series.',
    labelNames: ['depth'] as const,
    registers,
  });
  const cost = new Gauge({
    name: 'tollgate_pool_cost_usd',
    help: 'Cost (USD) settled in the pool’s current day or month (period), in its time zone, by the agents beneath it at any depth.',
    labelNames: perPeriod,
    registers,
  });
  const reserved = new Gauge({
    name: 'tollgate_pool_reserved_cost_usd',
    help: 'Cost (USD) held against the pool by open reservations of the agents beneath it.',
    labelNames: perPool,
    registers,
  });
  const limit = new Gauge({
    name: 'tollgate_pool_cost_limit_usd',
    help: 'The pool’s daily or monthly cost limit (period), USD; absent when it has none.',
    labelNames: perPeriod,
    registers,
  });
  const utilization = new Gauge({
    name: 'tollgate_pool_cost_utilization_ratio',
    help: 'The pool’s settled cost over its cost limit, per period (1 reached; may pass 1); absent when it has no limit.',
    labelNames: perPeriod,
    registers,
  });
  const rpm = new Gauge({
    name: 'tollgate_pool_requests_per_minute_limit',
    help: 'The pool’s requests-per-minute limit; absent when it has none.',
    labelNames: perPool,
    registers,
  });
  const tpm = new Gauge({
    name: 'tollgate_pool_tokens_per_minute_limit',
    help: 'The pool’s tokens-per-minute limit; absent when it has none.',
    labelNames: perPool,
    registers,
  });
  const agents = new Gauge({
    name: 'tollgate_pool_agents',
    help: 'Agents directly in the pool (not those of the pools beneath it).',
    labelNames: perPool,
    registers,
  });
  const denials = new Counter({
    name: 'tollgate_pool_denials_total',
    help: 'Authorizes denied by a pool’s limit (BUDGET_EXCEEDED: daily_cost, monthly_cost; RATE_LIMITED: requests_per_minute, tokens_per_minute), by the pool that denied; pools past maxPools count as _other.',
    labelNames: ['pool', 'limit'] as const,
    registers,
  });
  const gauges = [cost, reserved, limit, utilization, rpm, tpm, agents];

  // The pools with a denial series: at most maxPools ids, then _other.
  const counted = new Set<string>();
  const poolLabel = (poolId: string): string => {
    if (counted.has(poolId)) return poolId;
    if (counted.size >= maxPools) return OTHER_POOL;
    counted.add(poolId);
    return poolId;
  };

  const show = (p: PoolStatus) => {
    const l = { pool: p.poolId };
    const periods = [
      { period: 'day', used: p.dailyCostMicros, max: p.dailyLimitMicros },
      { period: 'month', used: p.monthlyCostMicros, max: p.monthlyLimitMicros },
    ] as const;
    for (const x of periods) {
      const lp = { pool: p.poolId, period: x.period };
      cost.set(lp, x.used / USD);
      if (x.max > 0) {
        limit.set(lp, x.max / USD);
        utilization.set(lp, x.used / x.max);
      }
    }
    reserved.set(l, p.dailyReservedMicros / USD);
    agents.set(l, p.agents);
    if (p.requestsPerMinute > 0) rpm.set(l, p.requestsPerMinute);
    if (p.tokensPerMinute > 0) tpm.set(l, p.tokensPerMinute);
    // A limit the pool has can deny: its denial series is there from the start, at 0.
    const pool = poolLabel(p.poolId);
    if (p.dailyLimitMicros > 0) denials.inc({ pool, limit: 'daily_cost' }, 0);
    if (p.monthlyLimitMicros > 0) denials.inc({ pool, limit: 'monthly_cost' }, 0);
    if (p.requestsPerMinute > 0) denials.inc({ pool, limit: 'requests_per_minute' }, 0);
    if (p.tokensPerMinute > 0) denials.inc({ pool, limit: 'tokens_per_minute' }, 0);
  };

  return {
    async read() {
      let list: PoolStatus[] | undefined;
      try {
        list = await within(engine.listPools(), timeoutMs);
      } catch {
        list = undefined;
      }
      pools.reset();
      for (const g of gauges) g.reset();
      sourceUp.set({ source: 'pools' }, list === undefined ? 0 : 1);
      if (list === undefined) return;
      for (const depth of ['1', '2', '3']) pools.set({ depth }, 0);
      for (const p of list) pools.inc({ depth: String(p.depth) });
      for (const p of sortPools(list).slice(0, maxPools)) show(p);
    },
    denied(d) {
      const hit = poolDenial(d);
      if (hit) denials.inc({ pool: poolLabel(hit.poolId), limit: hit.limit });
    },
  };
}
