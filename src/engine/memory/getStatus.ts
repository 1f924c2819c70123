import type { AgentRecordRaw, EngineStatus } from '../types.js';
import { checkAgentId } from '../validate.js';
import { freeExpired } from './leases.js';
import { thisMonth, today } from './records.js';
import { type AgentRec, type MemoryState, type Scope, saveCounters } from './state.js';

/** An agent's budget status now: the same object, key for key, as RedisEngine reads from the packed state. */
export function statusNow(st: MemoryState, sc: Scope, a: AgentRec): EngineStatus {
  const d = today(st, sc);
  const m = thisMonth(st, sc);
  const p = st.period(a);
  return {
    agentId: sc.agentId,
    role: a.role,
    status: a.status,
    sessionId: a.sid,
    sessionStartedMs: a.sStart,
    sessionTokensUsed: a.sUsed,
    sessionTokensReserved: a.sRes,
    sessionTokenLimit: a.sLimit,
    sessionCostMicros: a.sCost,
    dailyCostMicros: d === undefined ? 0 : d.cost,
    dailyReservedMicros: a.cRes,
    dailyLimitMicros: a.dLimit,
    operationsBlocked: a.blocked,
    sessionOverrunTokens: a.sOver,
    dailyOverrunMicros: d === undefined ? 0 : d.over,
    requestsPerMinute: a.rpm,
    tokensPerMinute: a.tpm,
    timeZone: a.zone,
    day: p.day,
    month: p.month,
    monthlyCostMicros: m === undefined ? 0 : m.cost,
    monthlyOverrunMicros: m === undefined ? 0 : m.over,
    monthlyLimitMicros: a.mLimit,
    poolId: a.pools[0] ?? null,
    nowMs: st.now,
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
  return statusNow(st, sc, a);
}

/** getStatus plus the record's digest, creation time and metadata, in one step. */
export function getAgent(st: MemoryState, agentId: string): AgentRecordRaw | null {
  const status = getStatus(st, agentId);
  const a = st.scopes.get(agentId)?.agent;
  if (!status || !a) return null;
  return { status, createdMs: a.created, metadata: a.meta, keyDigest: a.digest };
}
