import { TollgateError } from '../../errors.js';
import { MAX_ALERT_PCT } from '../alerts.js';
import { checkCount } from '../ids.js';
import { agentZone, decodeZone, periodAt } from '../periods.js';
import type { PoolLimits } from '../pool-types.js';
import { checkPool, MAX_POOL_DEPTH } from '../validate.js';
import type { PoolAlertMarks, PoolRec } from './pools.js';
import type { MemoryState } from './state.js';

/**
 * A pool as the durable store projected it (migration 8), with the spend of
 * its local day and month at the snapshot's instant and the alerts fired in
 * them (docs/recovery.md, "What is restored"). Its rate limits' arrival times and its holds are not part of
 * it: they start empty, as an agent's.
 */
export interface RestoredPool extends PoolLimits {
  poolId: string;
  /** Null for a root. */
  parentId: string | null;
  /** IANA name (absent: UTC). */
  timeZone?: string;
  createdMs: number;
  /** Micro-dollars charged to it on its local day and in its local month at the snapshot's atMs. */
  dailyCostMicros: number;
  monthlyCostMicros: number;
  /**
   * The budget alert thresholds (percent, increasing) already fired in that day
   * and month (absent: none): restored as its alert marks, so that they do not
   * fire again in those periods (lua/includes/alerts.lua).
   */
  dailyAlerts?: readonly number[];
  monthlyAlerts?: readonly number[];
}

function invalid(message: string, details: Record<string, unknown>): TollgateError {
  return new TollgateError('VALIDATION_FAILED', `Bad snapshot: ${message}`, details);
}

/**
 * Checks a snapshot's list of alert thresholds already fired (absent: none):
 * integers from 1 to MAX_ALERT_PCT, increasing (so at most MAX_ALERT_PCT of them);
 * `details` name the agent or pool. Answers the list.
 */
export function checkFired(
  v: readonly number[] | undefined,
  what: string,
  details: Record<string, unknown>,
): readonly number[] {
  if (v === undefined) return [];
  const ok =
    Array.isArray(v) &&
    v.every(
      (t, i) =>
        Number.isInteger(t) && t >= 1 && t <= MAX_ALERT_PCT && (i === 0 || t > (v[i - 1] ?? 0)),
    );
  if (!ok) {
    throw invalid(`${what} must be increasing integer percentages from 1 to ${MAX_ALERT_PCT}`, {
      ...details,
      field: what,
    });
  }
  return v;
}

/** Marks of one period from a checked list (none: undefined). */
function marksOf(period: number, fired: readonly number[]): PoolAlertMarks | undefined {
  return fired.length === 0 ? undefined : { period, fired: new Set(fired) };
}

/**
 * Checks the snapshot's pools (each after its parent, at most MAX_POOL_DEPTH
 * levels, none twice) and returns their records, not yet in the engine; the
 * agents' pools are checked against them by the caller.
 */
export function checkPools(
  pools: readonly RestoredPool[],
  atMs: number,
  nowMs: number,
): Map<string, PoolRec> {
  const out = new Map<string, PoolRec>();
  for (const p of pools) {
    checkPool({
      poolId: p.poolId,
      ...(p.parentId === null ? {} : { parentId: p.parentId }),
      dailyLimitMicros: p.dailyLimitMicros,
      monthlyLimitMicros: p.monthlyLimitMicros,
      requestsPerMinute: p.requestsPerMinute,
      tokensPerMinute: p.tokensPerMinute,
      actor: 'system',
    });
    const id = p.poolId;
    if (out.has(id)) throw invalid('pool listed twice', { pool_id: id });
    checkCount(p.createdMs, 'created_at', Number.MAX_SAFE_INTEGER);
    checkCount(p.dailyCostMicros, 'daily_cost', Number.MAX_SAFE_INTEGER);
    checkCount(p.monthlyCostMicros, 'monthly_cost', Number.MAX_SAFE_INTEGER);
    const dFired = checkFired(p.dailyAlerts, 'daily_alerts', { pool_id: id });
    const mFired = checkFired(p.monthlyAlerts, 'monthly_alerts', { pool_id: id });
    const parent = p.parentId === null ? undefined : out.get(p.parentId);
    if (p.parentId !== null && parent === undefined) {
      throw invalid('a pool must come after its parent', { pool_id: id, field: 'parent_id' });
    }
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > MAX_POOL_DEPTH) throw invalid('pool too deep', { pool_id: id, field: 'parent_id' });
    const zone = agentZone(p.timeZone, nowMs);
    const zoneT = decodeZone(zone.text);
    const period = periodAt(atMs, zoneT);
    const dAlerts = marksOf(period.day, dFired);
    const mAlerts = marksOf(period.month, mFired);
    out.set(id, {
      id,
      parent: parent?.id ?? null,
      root: parent?.root ?? id,
      depth,
      chain: [id, ...(parent?.chain ?? [])],
      dLimit: p.dailyLimitMicros,
      mLimit: p.monthlyLimitMicros,
      rpm: p.requestsPerMinute,
      tpm: p.tokensPerMinute,
      rTat: { tat: 0, frac: 0 },
      tTat: { tat: 0, frac: 0 },
      zone: zone.name,
      zoneT,
      cRes: 0,
      day: period.day,
      dCost: p.dailyCostMicros,
      mon: period.month,
      mCost: p.monthlyCostMicros,
      agents: 0,
      children: 0,
      created: p.createdMs,
      ...(dAlerts === undefined ? {} : { dAlerts }),
      ...(mAlerts === undefined ? {} : { mAlerts }),
    });
    if (parent !== undefined) parent.children += 1;
  }
  return out;
}

/** Puts the checked pools into the engine (restore, after every check passed). */
export function addPools(st: MemoryState, pools: ReadonlyMap<string, PoolRec>): void {
  for (const [id, pl] of pools) st.pools.set(id, pl);
}
