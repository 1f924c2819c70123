import type { PoolRecord } from '../api/routes/pools.schemas.js';
import { microsToUsd, pctNumber } from '../engine/money.js';
import type { PoolStatus } from '../engine/types.js';
import { isoPeriod, rateLimitsView, resetsAt } from './status.js';

/** A pool as the API shows it (its schema: src/api/routes/pools.schemas.ts). */
export type { PoolRecord };

/** One period's figures; a limit of 0 is none (null on the wire). */
function period(used: number, reserved: number, limit: number) {
  return {
    cost_used: microsToUsd(used),
    cost_reserved: microsToUsd(reserved),
    cost_limit: limit > 0 ? microsToUsd(limit) : null,
    cost_remaining: limit > 0 ? microsToUsd(Math.max(0, limit - used - reserved)) : null,
    utilization_pct: limit > 0 ? pctNumber(used, limit) : 0,
  };
}

/**
 * A pool's status from one atomic engine read, in USD, as the agents' budget
 * status (src/budget/status.ts): remaining = limit - used - reserved (never
 * below 0), utilization is used over limit (may pass 100), "exhausted" means
 * used has reached the limit, "over" that it is past it.
 */
export function toPoolRecord(p: PoolStatus): PoolRecord {
  const resets = resetsAt(p.timeZone, p.nowMs);
  const d = p.dailyLimitMicros;
  const m = p.monthlyLimitMicros;
  return {
    pool_id: p.poolId,
    parent_id: p.parentId,
    root_id: p.rootId,
    depth: p.depth,
    time_zone: p.timeZone,
    daily: {
      date: isoPeriod(p.day),
      ...period(p.dailyCostMicros, p.dailyReservedMicros, d),
      resets_at: resets.day,
    },
    monthly: {
      month: isoPeriod(p.month),
      ...period(p.monthlyCostMicros, p.monthlyReservedMicros, m),
      resets_at: resets.month,
    },
    rate_limits: rateLimitsView(p.requestsPerMinute, p.tokensPerMinute),
    agents: p.agents,
    pools: p.children,
    is_daily_exhausted: d > 0 && p.dailyCostMicros >= d,
    is_monthly_exhausted: m > 0 && p.monthlyCostMicros >= m,
    is_over_limit: (d > 0 && p.dailyCostMicros > d) || (m > 0 && p.monthlyCostMicros > m),
    created_at: new Date(p.createdMs).toISOString(),
  };
}
