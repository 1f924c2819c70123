import type { PoolStatus } from '../types.js';
import { checkPoolId } from '../validate.js';
import { poolStatusOf } from './pools.js';
import type { MemoryState } from './state.js';

/** getPool-*.lua: a pool's status in one step (a read); null when there is no such pool. */
export function getPool(st: MemoryState, poolId: string): PoolStatus | null {
  checkPoolId(poolId);
  st.tick();
  const pl = st.pools.get(poolId);
  return pl === undefined ? null : poolStatusOf(st, pl);
}
