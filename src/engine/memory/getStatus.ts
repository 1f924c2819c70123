import type { AgentRecordRaw, EngineStatus } from '../types.js';
import { checkAgentId } from '../validate.js';
import { freeExpired } from './leases.js';
import { today } from './records.js';
import { type AgentRec, type DayRec, type MemoryState, type Scope, saveCounters } from './state.js';

/** An agent's budget status: the same object, key for key, as RedisEngine reads from the packed state. */
export function statusOf(
  agentId: string,
  a: AgentRec,
  cUsed: number,
  dOver: number,
  now: number,
): EngineStatus {
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
    sessionOverrunTokens: a.sOver,
    dailyOverrunMicros: dOver,
    requestsPerMinute: a.rpm,
    tokensPerMinute: a.tpm,
    nowMs: now,
  };
}

/** The status with the day's record `d` (undefined: nothing spent today). */
export function statusWith(
  sc: Scope,
  a: AgentRec,
  d: DayRec | undefined,
  now: number,
): EngineStatus {
  return d === undefined
    ? statusOf(sc.agentId, a, 0, 0, now)
    : statusOf(sc.agentId, a, d.cost, d.over, now);
}

/** The status now, with today's spend as stored. */
export function statusNow(st: MemoryState, sc: Scope, a: AgentRec): EngineStatus {
  return statusWith(sc, a, today(st, sc), st.now);
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
