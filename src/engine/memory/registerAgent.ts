import { Code, failure } from '../codes.js';
import { agentZone, decodeZone } from '../periods.js';
import type { AgentSnapshot, RegisterInput } from '../types.js';
import { checkRegister } from '../validate.js';
import { stateEvent } from './events.js';
import { statusNow } from './getStatus.js';
import type { AgentRec, MemoryState } from './state.js';

/**
 * registerAgent-3.lua: create an agent with its limits, key digest and first
 * session, in a pool when given (it must exist: NOT_FOUND, nothing written;
 * the agent lives on its hierarchy's shard). An agent that exists with the
 * same key digest is this creation run again: its snapshot is answered
 * (`replayed`), nothing written.
 */
export function registerAgent(st: MemoryState, i: RegisterInput): AgentSnapshot {
  checkRegister(i);
  st.tick();
  const now = st.now;
  const agentId = i.agentId;
  const pool = i.poolId === undefined ? undefined : st.pools.get(i.poolId);
  if (i.poolId !== undefined && pool === undefined) {
    throw failure(Code.POOL_NOT_FOUND, { op: 'registerAgent', agentId, poolId: i.poolId });
  }
  const existing = st.scopes.get(agentId);
  const prior = existing?.agent;
  if (existing && prior) {
    if (prior.digest !== i.keyDigest)
      throw failure(Code.CONFLICT, { op: 'registerAgent', agentId });
    return {
      status: statusNow(st, existing, prior),
      createdMs: prior.created,
      metadata: prior.meta,
      replayed: true,
    };
  }

  const zone = agentZone(i.timeZone, now);
  const sc = existing ?? st.scope(agentId);
  const a: AgentRec = {
    role: i.role,
    status: 'active',
    sid: `${agentId}.${st.rnd.nonce()}`,
    sStart: now,
    sLimit: i.sessionTokenLimit,
    dLimit: i.dailyLimitMicros,
    mLimit: i.monthlyLimitMicros ?? 0,
    zone: zone.name,
    zoneT: decodeZone(zone.text),
    rpm: i.requestsPerMinute ?? 0,
    tpm: i.tokensPerMinute ?? 0,
    rTat: { tat: 0, frac: 0 },
    tTat: { tat: 0, frac: 0 },
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
    pools: pool?.chain ?? [],
  };
  sc.agent = a;
  if (pool !== undefined) pool.agents += 1;
  st.moveToShard(sc, st.shardOf(pool === undefined ? agentId : pool.root));
  st.addToIndex(sc);
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, 'agent_registered', agentId, a, i.actor);
  return { status: statusNow(st, sc, a), createdMs: now, metadata: i.metadata, replayed: false };
}
