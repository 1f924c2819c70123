import { costMicros } from '../money.js';
import type { UsageInput, UsageResult } from '../types.js';
import { checkUsage } from '../validate.js';
import { notFound, unauthenticated, wrongKey } from './errors.js';
import { usageEvent } from './events.js';
import { freeExpired } from './leases.js';
import { chargeDay } from './records.js';
import { type MemoryState, saveCounters } from './state.js';
import { statusOf } from './status.js';

/**
 * recordUsage-3.lua: usage that had no reservation. Always recorded, even past
 * a limit or for a suspended agent.
 */
export function recordUsage(st: MemoryState, i: UsageInput): UsageResult {
  checkUsage(i);
  st.tick();
  const agentId = i.agentId;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw notFound(agentId);
  if (wrongKey(i.keyDigest, a.digest)) throw unauthenticated(agentId);
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);

  const rates = i.rates;
  const cost = costMicros(
    i.inputTokens,
    rates.inputMicrosPerMillion,
    i.outputTokens,
    rates.outputMicrosPerMillion,
  );
  a.sUsed += i.inputTokens + i.outputTokens;
  a.sCost += cost;
  saveCounters(a);
  const cUsed = chargeDay(st, sc, cost);
  usageEvent(
    st,
    sc.shard,
    tail,
    n,
    agentId,
    a,
    i.operation ?? '',
    i.inputTokens,
    i.outputTokens,
    cost,
    rates.model,
    i.result,
    cUsed,
    i.actor,
  );
  return { costMicros: cost, status: statusOf(agentId, a, cUsed, st.now) };
}
