import type { EngineStatus } from '../types.js';
import { checkAgentId } from '../validate.js';
import { freeExpired } from './leases.js';
import { dayCost } from './records.js';
import { type AgentRec, type MemoryState, saveCounters } from './state.js';

/** The status tuple (statusOf of lua/includes/agent.lua), as parseStatus reads it. */
export function statusOf(agentId: string, a: AgentRec, cUsed: number, now: number): EngineStatus {
  return {
    agentId,
    role: a.role,
    status: a.status,
    sessionId: a.sid,
    sessionStartedMs: a.sStart,
    sessionTokensUsed: a.sUsed,
    sessionTokensReserved: a.sRes,
    sessionTokenLimit: a.sLimit,
    sessionCostMicros: a.sCost,
    dailyCostMicros: cUsed,
    dailyReservedMicros: a.cRes,
    dailyLimitMicros: a.dLimit,
    operationsBlocked: a.blocked,
    nowMs: now,
  };
}

/** getStatus-3.lua: frees expired leases first (bounded), then reads. Null: no such agent. */
export function getStatus(st: MemoryState, agentId: string): EngineStatus | null {
  checkAgentId(agentId);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) return null;
  freeExpired(st, sc, a, st.rnd.eventTailBits(), 0);
  if (st.dirty) saveCounters(a);
  return statusOf(agentId, a, dayCost(st, sc), st.now);
}
