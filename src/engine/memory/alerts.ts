import { type AlertThresholds, crossedThresholds } from '../alerts.js';
import { type EventTailBits, eventIdOf } from '../random.js';
import type { PoolAlertMarks } from './pools.js';
import { thisMonth, today } from './records.js';
import type { AgentRec, MemoryState, Scope } from './state.js';
import { appendEvent, FieldsEvent } from './stored-event.js';

/** Appends one budget_alert, numbered `n` in the call, on the agent's shard. */
function alertEvent(
  st: MemoryState,
  sc: Scope,
  tail: EventTailBits,
  n: number,
  poolId: string,
  budget: string,
  pct: number,
  period: string,
  used: number,
  limit: number,
): void {
  appendEvent(
    st.outbox,
    new FieldsEvent(st, sc.shard, {
      event_id: eventIdOf(st.now, tail, n),
      at: String(st.now),
      type: 'budget_alert',
      agent_id: sc.agentId,
      pool_id: poolId,
      budget,
      threshold_pct: String(pct),
      period,
      used: String(used),
      limit: String(limit),
    }),
  );
}

/**
 * lua/includes/alerts.lua agentAlerts: after a charge of `tok` tokens and
 * `cost` micro-dollars to the agent `a` (already charged: sUsed, and its day
 * and month by chargeDay), marks each threshold of `alerts` crossed for the
 * first time in its period and appends its budget_alert, numbered from `n`
 * in the call. Returns the next event number.
 */
export function agentAlerts(
  st: MemoryState,
  sc: Scope,
  a: AgentRec,
  tok: number,
  cost: number,
  tail: EventTailBits,
  n: number,
  alerts: AlertThresholds,
): number {
  const pcts = alerts.pcts;
  if (pcts.length === 0) return n;
  const s = crossedThresholds(pcts, a.sUsed - tok, a.sUsed, a.sLimit);
  const day = cost > 0 && a.dLimit > 0 ? today(st, sc) : undefined;
  const month = cost > 0 && a.mLimit > 0 ? thisMonth(st, sc) : undefined;
  const d = day && crossedThresholds(pcts, day.cost - cost, day.cost, a.dLimit);
  const m = month && crossedThresholds(pcts, month.cost - cost, month.cost, a.mLimit);
  if (!s && !d && !m) return n;
  const emit = (budget: string, pct: number, period: string, used: number, limit: number) => {
    alertEvent(st, sc, tail, n, '', budget, pct, period, used, limit);
    n++;
  };
  if (s) {
    a.alertSids ??= new Map();
    for (const pct of s) {
      if (a.alertSids.get(pct) === a.sid) continue;
      a.alertSids.set(pct, a.sid);
      emit('session', pct, a.sid, a.sUsed, a.sLimit);
    }
  }
  const p = st.period(a);
  if (d && day) {
    day.alerts ??= new Set();
    fireNew(day.alerts, d, (pct) => emit('daily', pct, String(p.day), day.cost, a.dLimit));
  }
  if (m && month) {
    month.alerts ??= new Set();
    fireNew(month.alerts, m, (pct) => emit('monthly', pct, String(p.month), month.cost, a.mLimit));
  }
  return n;
}

/** Each threshold of `hits` not marked in `fired` yet: marked, and `fire` called with it. */
function fireNew(fired: Set<number>, hits: readonly number[], fire: (pct: number) => void): void {
  for (const pct of hits) {
    if (fired.has(pct)) continue;
    fired.add(pct);
    fire(pct);
  }
}

/**
 * lua/includes/alerts.lua poolAlerts: after `cost` micro-dollars charged by
 * the agent of `sc` to each pool of `chain` (closePools, chargePools: each
 * level's dCost and mCost are of its period now), leaf first, marks each
 * threshold of a pool's day or month crossed for the first time in that
 * period and appends its budget_alert (`pool_id` the pool), numbered from
 * `n`. Returns the next event number.
 */
export function poolAlerts(
  st: MemoryState,
  sc: Scope,
  chain: readonly string[],
  cost: number,
  tail: EventTailBits,
  n: number,
  alerts: AlertThresholds,
): number {
  const pcts = alerts.pcts;
  if (pcts.length === 0 || cost <= 0) return n;
  for (const id of chain) {
    const pl = st.pools.get(id);
    if (pl === undefined) continue;
    // Below the lowest threshold (the common case): nothing to look at.
    const min = pcts[0] as number;
    const dLow = pl.dLimit <= 0 || pl.dCost * 100 < min * pl.dLimit;
    if (dLow && (pl.mLimit <= 0 || pl.mCost * 100 < min * pl.mLimit)) continue;
    const kinds = [
      { budget: 'daily', used: pl.dCost, limit: pl.dLimit, period: pl.day, monthly: false },
      { budget: 'monthly', used: pl.mCost, limit: pl.mLimit, period: pl.mon, monthly: true },
    ];
    for (const k of kinds) {
      const hits = crossedThresholds(pcts, k.used - cost, k.used, k.limit);
      if (hits === undefined) continue;
      let marks: PoolAlertMarks | undefined = k.monthly ? pl.mAlerts : pl.dAlerts;
      if (marks === undefined || marks.period !== k.period) {
        marks = { period: k.period, fired: new Set() };
        if (k.monthly) pl.mAlerts = marks;
        else pl.dAlerts = marks;
      }
      fireNew(marks.fired, hits, (pct) => {
        alertEvent(st, sc, tail, n, pl.id, k.budget, pct, String(k.period), k.used, k.limit);
        n++;
      });
    }
  }
  return n;
}
