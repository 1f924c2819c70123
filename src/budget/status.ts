import type { BudgetStatus } from '../api/routes/shared.schemas.js';
import { isoDay, nextMidnightIso } from '../engine/clock.js';
import { microsToUsd, pctNumber } from '../engine/money.js';
import { decodeZone, periodAt, zoneTextAt } from '../engine/periods.js';
import type { EngineStatus } from '../engine/types.js';

/** The budget status contract (ARCHITECTURE.md, "Contracts"): its schema is the API's (src/api/routes/shared.schemas.ts). */
export type { BudgetStatus };

/**
 * Builds the status from one atomic engine read. Remaining = limit - used -
 * reserved (never below 0); "exhausted" means used has reached the limit
 * (holds in flight do not make a budget exhausted). Utilization is used over
 * limit in percent, two decimals, truncated; it may pass 100 (usage that
 * happened is never refused). "Over limit" means used is past the limit (an
 * overrun: a settle above its hold, or usage with no hold).
 */
/** yyyymmdd -> 'YYYY-MM-DD'; yyyymm -> 'YYYY-MM'. */
export function isoPeriod(n: number): string {
  const t = String(n);
  return t.length === 8
    ? `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6)}`
    : `${t.slice(0, 4)}-${t.slice(4)}`;
}

/**
 * When the local day and month of `nowMs` end in the zone (ISO), from this
 * process's zone rules. UTC (most agents) by plain arithmetic: every decision
 * carries a status, and decoding a zone's offsets costs more than the rest of
 * the status together (a profile of MemoryEngine authorize + release).
 */
export function resetsAt(zone: string, nowMs: number): { day: string; month: string } {
  if (zone === 'UTC' || zone === '') {
    // The month from the day's text (memoized per UTC day), its successor by hand.
    const [y, m] = isoDay(nowMs).split('-').map(Number) as [number, number];
    const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
    return { day: nextMidnightIso(nowMs), month: `${next}-01T00:00:00.000Z` };
  }
  const p = periodAt(nowMs, decodeZone(zoneTextAt(zone, nowMs)));
  return { day: new Date(p.nextDayMs).toISOString(), month: new Date(p.nextMonthMs).toISOString() };
}

/** An agent's or a pool's rate limits on the wire: each null when not set, null when neither is. */
export function rateLimitsView(
  requestsPerMinute: number,
  tokensPerMinute: number,
): BudgetStatus['rate_limits'] {
  if (requestsPerMinute <= 0 && tokensPerMinute <= 0) return null;
  return {
    requests_per_minute: requestsPerMinute > 0 ? requestsPerMinute : null,
    tokens_per_minute: tokensPerMinute > 0 ? tokensPerMinute : null,
  };
}

export function toBudgetStatus(s: EngineStatus): BudgetStatus {
  const tokensRemaining = Math.max(
    0,
    s.sessionTokenLimit - s.sessionTokensUsed - s.sessionTokensReserved,
  );
  const costRemaining = Math.max(0, s.dailyLimitMicros - s.dailyCostMicros - s.dailyReservedMicros);
  const mLimit = s.monthlyLimitMicros;
  const resets = resetsAt(s.timeZone, s.nowMs);
  return {
    agent_id: s.agentId,
    role: s.role,
    pool_id: s.poolId,
    session: {
      session_id: s.sessionId,
      tokens_used: s.sessionTokensUsed,
      tokens_reserved: s.sessionTokensReserved,
      tokens_limit: s.sessionTokenLimit,
      tokens_remaining: tokensRemaining,
      utilization_pct: pctNumber(s.sessionTokensUsed, s.sessionTokenLimit),
      tokens_overrun: s.sessionOverrunTokens,
    },
    daily: {
      date: isoPeriod(s.day),
      cost_used: microsToUsd(s.dailyCostMicros),
      cost_reserved: microsToUsd(s.dailyReservedMicros),
      cost_limit: microsToUsd(s.dailyLimitMicros),
      cost_remaining: microsToUsd(costRemaining),
      utilization_pct: pctNumber(s.dailyCostMicros, s.dailyLimitMicros),
      resets_at: resets.day,
      cost_overrun: microsToUsd(s.dailyOverrunMicros),
      time_zone: s.timeZone,
    },
    monthly: {
      month: isoPeriod(s.month),
      cost_used: microsToUsd(s.monthlyCostMicros),
      cost_reserved: microsToUsd(s.dailyReservedMicros),
      cost_limit: mLimit > 0 ? microsToUsd(mLimit) : null,
      cost_remaining:
        mLimit > 0
          ? microsToUsd(Math.max(0, mLimit - s.monthlyCostMicros - s.dailyReservedMicros))
          : null,
      utilization_pct: mLimit > 0 ? pctNumber(s.monthlyCostMicros, mLimit) : 0,
      resets_at: resets.month,
    },
    operations_blocked: s.operationsBlocked,
    rate_limits: rateLimitsView(s.requestsPerMinute, s.tokensPerMinute),
    is_session_exhausted: s.sessionTokensUsed >= s.sessionTokenLimit,
    is_daily_exhausted: s.dailyCostMicros >= s.dailyLimitMicros,
    is_monthly_exhausted: mLimit > 0 && s.monthlyCostMicros >= mLimit,
    is_over_limit:
      s.sessionTokensUsed > s.sessionTokenLimit ||
      s.dailyCostMicros > s.dailyLimitMicros ||
      (mLimit > 0 && s.monthlyCostMicros > mLimit),
  };
}
