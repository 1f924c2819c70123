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
import type { AgentRec, MemoryState } from './state.js';
import { getStatus, statusNow } from './status.js';

/**
 * registerAgent-3.lua: create an agent with its limits, key digest and first
 * session. An agent that exists with the same key digest is this creation run
 * again: its snapshot is answered (`replayed`), nothing written.
 */
export function registerAgent(st: MemoryState, i: RegisterInput): AgentSnapshot {
  checkRegister(i);
  st.tick();
  const now = st.now;
  const agentId = i.agentId;
  const existing = st.scopes.get(agentId);
  const prior = existing?.agent;
  if (existing && prior) {
    if (prior.digest !== i.keyDigest) throw conflict(agentId);
    return {
      status: statusNow(st, existing, prior),
      createdMs: prior.created,
      metadata: prior.meta,
      replayed: true,
    };
  }

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
    sOver: 0,
    nextExp: 0,
    digest: i.keyDigest,
    created: now,
    meta: i.metadata,
    ended: null,
  };
  sc.agent = a;
  st.addToIndex(sc);
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, 'agent_registered', agentId, a, i.actor);
  return { status: statusNow(st, sc, a), createdMs: now, metadata: i.metadata, replayed: false };
}

/**
 * updateAgent-2.lua: change role, status, limits, key digest or metadata. The
 * event carries the whole new state. Expired leases are not freed here. When
 * every value is already set, nothing is written (no event): `replayed`.
 */
export function updateAgent(st: MemoryState, i: UpdateInput): AgentSnapshot {
  checkUpdate(i);
  st.tick();
  const agentId = i.agentId;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw notFound(agentId);

  const s = i.set;
  const same =
    (s.role === undefined || s.role === a.role) &&
    (s.status === undefined || s.status === a.status) &&
    (s.sessionTokenLimit === undefined || s.sessionTokenLimit === a.sLimit) &&
    (s.dailyLimitMicros === undefined || s.dailyLimitMicros === a.dLimit) &&
    (s.keyDigest === undefined || s.keyDigest === a.digest) &&
    (s.metadata === undefined || s.metadata === a.meta);
  if (same) {
    return { status: statusNow(st, sc, a), createdMs: a.created, metadata: a.meta, replayed: true };
  }
  if (s.role !== undefined) a.role = s.role;
  if (s.status !== undefined) a.status = s.status;
  if (s.sessionTokenLimit !== undefined) a.sLimit = s.sessionTokenLimit;
  if (s.dailyLimitMicros !== undefined) a.dLimit = s.dailyLimitMicros;
  if (s.keyDigest !== undefined) a.digest = s.keyDigest;
  if (s.metadata !== undefined) a.meta = s.metadata;
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, i.event, agentId, a, i.actor);
  return { status: statusNow(st, sc, a), createdMs: a.created, metadata: a.meta, replayed: false };
}

/**
 * deleteAgent-4.lua: remove the agent with everything kept under it: its
 * leases, its reservations (open or closed), request ids and usage ids (an
 * agent registered again under the id starts clean). The day's spend stays
 * until it expires. Returns the last state (expired leases not freed).
 */
export function deleteAgent(st: MemoryState, agentId: string, actor: Actor): EngineStatus {
  checkAgentId(agentId);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw notFound(agentId);

  sc.res.clear();
  sc.req.clear();
  sc.use.clear();
  sc.leases = [];
  sc.agent = null;
  st.removeFromIndex(sc);
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, 'agent_deleted', agentId, a, actor);
  const status = statusNow(st, sc, a);
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
  const out: AgentSnapshot[] = [];
  for (const ids of st.index) {
    for (const id of ids) {
      const sc = st.scopes.get(id);
      const a = sc?.agent;
      if (!sc || !a) continue;
      out.push({ status: statusNow(st, sc, a), createdMs: a.created, metadata: a.meta });
    }
  }
  return out.sort((x, y) => x.status.agentId.localeCompare(y.status.agentId));
}
