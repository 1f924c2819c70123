import { Code, failure } from '../codes.js';
import type { Actor, PoolStatus } from '../types.js';
import { checkPoolId } from '../validate.js';
import { poolEvent, poolStatusOf } from './pools.js';
import type { MemoryState } from './state.js';

/**
 * deletePool-*.lua: removes an empty pool (no agents, no pools beneath it;
 * else CONFLICT pool_not_empty with their counts, nothing written). Holds made
 * under it that are still open are freed elsewhere as usual; their settles
 * skip the pool that is gone. Answers its last status.
 */
export function deletePool(st: MemoryState, poolId: string, actor: Actor): PoolStatus {
  checkPoolId(poolId);
  st.tick();
  const pl = st.pools.get(poolId);
  if (pl === undefined) {
    throw failure(Code.POOL_NOT_FOUND, { op: 'deletePool', agentId: '', poolId });
  }
  if (pl.agents > 0 || pl.children > 0) {
    throw failure(Code.POOL_NOT_EMPTY, {
      op: 'deletePool',
      agentId: '',
      poolId,
      agents: pl.agents,
      pools: pl.children,
    });
  }
  const status = poolStatusOf(st, pl);
  st.pools.delete(poolId);
  const parent = pl.parent === null ? undefined : st.pools.get(pl.parent);
  if (parent !== undefined) parent.children -= 1;
  poolEvent(st, st.rnd.eventTailBits(), 'pool_deleted', pl, actor);
  return status;
}
