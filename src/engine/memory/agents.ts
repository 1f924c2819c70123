import type {
  Actor,
  AgentRecordRaw,
  AgentSnapshot,
  EngineStatus,
  RegisterInput,
  UpdateInput,
} from '../types.js';
import { checkAgentId, checkRegister, checkUpdate } from '../validate.js';
import { conflict, notFound } from './errors.js';
import { stateEvent } from './events.js';
import { dayCost } from './records.js';
import type { AgentRec, MemoryState } from './state.js';
import { getStatus, statusOf } from './status.js';

/** registerAgent-3.lua: create an agent with its limits, key digest and first session. */
export function registerAgent(st: MemoryState, i: RegisterInput): AgentSnapshot {
  checkRegister(i);
  st.tick();
  const now = st.now;
  const agentId = i.agentId;
  const existing = st.scopes.get(agentId);
  if (existing?.agent) throw conflict(agentId);

  const sc = existing ?? st.scope(agentId);
  const a: AgentRec = {
    role: i.role,
    status: 'active',
    sid: `${agentId}.${st.rnd.nonce()}`,
    sStart: now,
    sLimit: i.sessionTokenLimit,
    dLimit: i.dailyLimitMicros,
    sUsed: 0,
    sRes: 0,
    sCost: 0,
    cRes: 0,
    blocked: 0,
    nextExp: 0,
    digest: i.keyDigest,
    created: now,
    meta: i.metadata,
  };
  sc.agent = a;
  (st.index[sc.shard] as Set<string>).add(agentId);
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, 'agent_registered', agentId, a, i.actor);
  return {
    status: statusOf(agentId, a, dayCost(st, sc), now),
    createdMs: now,
    metadata: i.metadata,
  };
}

/**
 * updateAgent-2.lua: change role, status, limits, key digest or metadata. The
 * event carries the whole new state. Expired leases are not freed here.
 */
export function updateAgent(st: MemoryState, i: UpdateInput): AgentSnapshot {
  checkUpdate(i);
  st.tick();
  const agentId = i.agentId;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw notFound(agentId);

  const s = i.set;
  if (s.role !== undefined) a.role = s.role;
  if (s.status !== undefined) a.status = s.status;
  if (s.sessionTokenLimit !== undefined) a.sLimit = s.sessionTokenLimit;
  if (s.dailyLimitMicros !== undefined) a.dLimit = s.dailyLimitMicros;
  if (s.keyDigest !== undefined) a.digest = s.keyDigest;
  if (s.metadata !== undefined) a.meta = s.metadata;
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, i.event, agentId, a, i.actor);
  return {
    status: statusOf(agentId, a, dayCost(st, sc), st.now),
    createdMs: a.created,
    metadata: a.meta,
  };
}

/**
 * deleteAgent-4.lua: remove the agent, its open holds and its leases. The
 * day's spend, closed reservations and request ids stay until they expire.
 * Returns the last state (expired leases not freed).
 */
export function deleteAgent(st: MemoryState, agentId: string, actor: Actor): EngineStatus {
  checkAgentId(agentId);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw notFound(agentId);

  for (const r of sc.leases) sc.res.delete(r.nonce);
  sc.leases = [];
  sc.agent = null;
  (st.index[sc.shard] as Set<string>).delete(agentId);
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, 'agent_deleted', agentId, a, actor);
  const status = statusOf(agentId, a, dayCost(st, sc), st.now);
  st.dropIfEmpty(sc);
  return status;
}

/** getStatus plus the record's digest, creation time and metadata, in one step. */
export function getAgent(st: MemoryState, agentId: string): AgentRecordRaw | null {
  const status = getStatus(st, agentId);
  const a = st.scopes.get(agentId)?.agent;
  if (!status || !a) return null;
  return { status, createdMs: a.created, metadata: a.meta, keyDigest: a.digest };
}

/** listAgents-1.lua over every shard: a read, no lease is freed. Sorted by agent id. */
export function listAgents(st: MemoryState): AgentSnapshot[] {
  st.tick();
  const now = st.now;
  const out: AgentSnapshot[] = [];
  for (const ids of st.index) {
    for (const id of ids) {
      const sc = st.scopes.get(id);
      const a = sc?.agent;
      if (!sc || !a) continue;
      out.push({
        status: statusOf(id, a, dayCost(st, sc), now),
        createdMs: a.created,
        metadata: a.meta,
      });
    }
  }
  return out.sort((x, y) => x.status.agentId.localeCompare(y.status.agentId));
}
