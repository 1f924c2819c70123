import type { PoolStatus } from '../types.js';
import { poolStatusOf } from './pools.js';
import type { MemoryState } from './state.js';

/** listPools-1.lua over every shard: every pool's status, sorted by pool id. */
export function listPools(st: MemoryState): PoolStatus[] {
  st.tick();
  const out: PoolStatus[] = [];
  for (const pl of st.pools.values()) out.push(poolStatusOf(st, pl));
  return out.sort((a, b) => a.poolId.localeCompare(b.poolId));
}
