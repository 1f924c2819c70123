import { Code, failure } from '../codes.js';
import { MAX_POOL_DEPTH } from '../ids.js';
import { agentZone, decodeZone } from '../periods.js';
import type { PoolInput, PoolStatus } from '../types.js';
import { checkPool } from '../validate.js';
import { type PoolRec, poolEvent, poolStatusOf } from './pools.js';
import type { MemoryState } from './state.js';

/**
 * createPool-*.lua: a new pool, a root or beneath a parent (at most
 * MAX_POOL_DEPTH levels). The same create again (same parent, limits and
 * zone) answers the pool, nothing written; other settings under a taken id
 * are CONFLICT (pool_exists). A missing parent is NOT_FOUND (its id).
 */
export function createPool(st: MemoryState, i: PoolInput): PoolStatus {
  checkPool(i);
  st.tick();
  const zone = agentZone(i.timeZone, st.now);
  const prior = st.pools.get(i.poolId);
  if (prior !== undefined) {
    if (samePool(prior, i, zone.name)) return poolStatusOf(st, prior);
    throw failure(Code.POOL_EXISTS, { op: 'createPool', agentId: '', poolId: i.poolId });
  }
  let parent: PoolRec | undefined;
  if (i.parentId !== undefined) {
    parent = st.pools.get(i.parentId);
    if (parent === undefined) {
      throw failure(Code.POOL_NOT_FOUND, { op: 'createPool', agentId: '', poolId: i.parentId });
    }
    if (parent.depth >= MAX_POOL_DEPTH) {
      throw failure(Code.POOL_TOO_DEEP, { op: 'createPool', agentId: '', poolId: i.poolId });
    }
  }
  const pl: PoolRec = {
    id: i.poolId,
    parent: parent?.id ?? null,
    root: parent?.root ?? i.poolId,
    depth: (parent?.depth ?? 0) + 1,
    chain: [i.poolId, ...(parent?.chain ?? [])],
    dLimit: i.dailyLimitMicros ?? 0,
    mLimit: i.monthlyLimitMicros ?? 0,
    rpm: i.requestsPerMinute ?? 0,
    tpm: i.tokensPerMinute ?? 0,
    rTat: { tat: 0, frac: 0 },
    tTat: { tat: 0, frac: 0 },
    zone: zone.name,
    zoneT: decodeZone(zone.text),
    cRes: 0,
    day: 0,
    dCost: 0,
    mon: 0,
    mCost: 0,
    agents: 0,
    children: 0,
    created: st.now,
  };
  st.pools.set(pl.id, pl);
  if (parent !== undefined) parent.children += 1;
  poolEvent(st, st.rnd.eventTailBits(), 'pool_created', pl, i.actor);
  return poolStatusOf(st, pl);
}

/** Whether a create names the pool as it is (its repeat). */
function samePool(pl: PoolRec, i: PoolInput, zone: string): boolean {
  return (
    pl.parent === (i.parentId ?? null) &&
    pl.dLimit === (i.dailyLimitMicros ?? 0) &&
    pl.mLimit === (i.monthlyLimitMicros ?? 0) &&
    pl.rpm === (i.requestsPerMinute ?? 0) &&
    pl.tpm === (i.tokensPerMinute ?? 0) &&
    pl.zone === zone
  );
}
