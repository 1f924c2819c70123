import { crossedThresholds } from '../alerts.js';
import { type EventTailBits, eventIdOf } from '../random.js';
import { thisMonth, today } from './records.js';
import type { AgentRec, MemoryState, Scope } from './state.js';
import { appendEvent, FieldsEvent } from './stored-event.js';

/**
 * lua/includes/alerts.lua agentAlerts: after a charge of `tok` tokens and
 * `cost` micro-dollars to the agent `a` (already charged: sUsed, and its day
 * and month by chargeDay), marks each threshold crossed for the first time in
 * its period and appends its budget_alert, numbered from `n` in the call.
 * Returns the next event number.
 */
export function agentAlerts(
  st: MemoryState,
  sc: Scope,
  a: AgentRec,
  tok: number,
  cost: number,
  tail: EventTailBits,
  n: number,
): number {
  const s = crossedThresholds(a.sUsed - tok, a.sUsed, a.sLimit);
  const day = cost > 0 && a.dLimit > 0 ? today(st, sc) : undefined;
  const month = cost > 0 && a.mLimit > 0 ? thisMonth(st, sc) : undefined;
  const d = day && crossedThresholds(day.cost - cost, day.cost, a.dLimit);
  const m = month && crossedThresholds(month.cost - cost, month.cost, a.mLimit);
  if (!s && !d && !m) return n;
  const emit = (budget: string, pct: number, period: string, used: number, limit: number) => {
    appendEvent(
      st.outbox,
      new FieldsEvent(st, sc.shard, {
        event_id: eventIdOf(st.now, tail, n),
        at: String(st.now),
        type: 'budget_alert',
        agent_id: sc.agentId,
        pool_id: '',
        budget,
        threshold_pct: String(pct),
        period,
        used: String(used),
        limit: String(limit),
      }),
    );
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
    for (const pct of d) {
      if (day.alerts.has(pct)) continue;
      day.alerts.add(pct);
      emit('daily', pct, String(p.day), day.cost, a.dLimit);
    }
  }
  if (m && month) {
    month.alerts ??= new Set();
    for (const pct of m) {
      if (month.alerts.has(pct)) continue;
      month.alerts.add(pct);
      emit('monthly', pct, String(p.month), month.cost, a.mLimit);
    }
  }
  return n;
}
