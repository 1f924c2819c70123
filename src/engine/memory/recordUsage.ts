import { NO_ALERTS } from '../alerts.js';
import { Code, failure } from '../codes.js';
import { costMicros } from '../money.js';
import { agentRateCorrect } from '../rate.js';
import type { UsageInput, UsageResult } from '../types.js';
import { checkUsage } from '../validate.js';
import { agentAlerts, poolAlerts } from './alerts.js';
import { usageEvent } from './events.js';
import { statusNow } from './getStatus.js';
import { freeExpired } from './leases.js';
import { chargePools } from './pools.js';
import { chargeDay, findUse, putUse } from './records.js';
import { type MemoryState, saveCounters, wrongKey } from './state.js';

/**
 * recordUsage-3.lua: usage that had no reservation. Always recorded, even past
 * a limit or for a suspended agent: tokens to the current session, cost to
 * the day. Idempotent by usage id (the caller's, else one made here): the same
 * values again answer the recorded cost, other values are a conflict.
 */
export function recordUsage(st: MemoryState, i: UsageInput): UsageResult {
  checkUsage(i);
  st.tick();
  const agentId = i.agentId;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  const subject = { op: 'recordUsage' as const, agentId, usageId: i.usageId };
  if (!sc || !a) throw failure(Code.AGENT_NOT_FOUND, subject);
  if (wrongKey(i.keyDigest, a.digest)) throw failure(Code.UNAUTHENTICATED, subject);

  const rates = i.rates;
  const operation = i.operation ?? '';
  const fp = `${operation}|${i.inputTokens}|${i.outputTokens}|${rates.model}|${i.result}`;
  if (i.usageId !== undefined) {
    const u = findUse(st, sc, i.usageId);
    if (u) {
      const priced = i.costMicros;
      if (u.kind !== 'usage' || u.fp !== fp || (priced !== undefined && u.cost !== priced)) {
        throw failure(Code.IDEMPOTENCY_CONFLICT, subject);
      }
      return { costMicros: u.cost, replayed: true, status: statusNow(st, sc, a) };
    }
  }

  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  const cost =
    i.costMicros ??
    costMicros(
      i.inputTokens,
      rates.inputMicrosPerMillion,
      i.outputTokens,
      rates.outputMicrosPerMillion,
    );
  a.sUsed += i.inputTokens + i.outputTokens;
  a.sCost += cost;
  saveCounters(a);
  const d = chargeDay(st, sc, cost, 0);
  // Tokens per minute count the usage, as a settle's does (never refused: it happened).
  agentRateCorrect(a, i.inputTokens + i.outputTokens, st.now);
  if (a.pools.length > 0) chargePools(st, a.pools, cost, i.inputTokens + i.outputTokens);
  putUse(st, sc, {
    id: i.usageId ?? st.rnd.nonce(),
    kind: 'usage',
    fp,
    nonce: '',
    cost,
    overTokens: 0,
    overMicros: 0,
  });
  usageEvent(
    st,
    sc.shard,
    tail,
    n,
    agentId,
    a,
    operation,
    i.inputTokens,
    i.outputTokens,
    cost,
    rates.model,
    i.result,
    d === undefined ? 0 : d.cost,
    i.actor,
  );
  const alerts = i.alerts ?? NO_ALERTS;
  const next = agentAlerts(st, sc, a, i.inputTokens + i.outputTokens, cost, tail, n + 1, alerts);
  if (a.pools.length > 0) poolAlerts(st, sc, a.pools, cost, tail, next, alerts);
  return { costMicros: cost, replayed: false, status: statusNow(st, sc, a) };
}
