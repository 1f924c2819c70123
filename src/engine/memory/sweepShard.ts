import { TollgateError } from '../../errors.js';
import type { SweepResult } from '../types.js';
import { checkShard } from '../validate.js';
import { freeExpired } from './leases.js';
import { type MemoryState, saveCounters } from './state.js';

/** Agents one sweep step visits (the Redis SSCAN's COUNT). */
export const SWEEP_AGENTS = 100;

/**
 * One step of the background sweep of a shard (the sweep script): visits up
 * to 100 of the shard's agents in id order from position `cursor` (decimal
 * text, '0': the first), frees their expired holds (at most maxFreePerCall in
 * the step, shared by its agents) and reclaims records past their time (as
 * every operation does, see MemoryState.tick). Returns the next agent's
 * position as the cursor, '0' when the shard's agents were all visited.
 */
export function sweepShard(st: MemoryState, shard: number, cursor: string): SweepResult {
  checkShard(shard, st.shards);
  if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(cursor)) {
    throw new TollgateError('VALIDATION_FAILED', 'Invalid cursor', { field: 'cursor' });
  }
  st.tick();
  const ids = st.sortedIndex(shard);
  const from = Number(cursor);
  const to = Math.min(ids.length, from + SWEEP_AGENTS);
  const before = st.leasesFreed[shard] as number;
  const unbounded = st.maxFree < 0;
  const tail = st.rnd.eventTailBits();
  let n = 0;
  let agents = 0;
  for (let k = from; k < to; k++) {
    const sc = st.scopes.get(ids[k] as string);
    const a = sc?.agent;
    if (!sc || !a) continue;
    agents++;
    const left = unbounded ? -1 : st.maxFree - ((st.leasesFreed[shard] as number) - before);
    if (left === 0) continue;
    st.dirty = false;
    n = freeExpired(st, sc, a, tail, n, left);
    if (st.dirty) saveCounters(a);
  }
  return {
    cursor: to >= ids.length ? '0' : String(to),
    agents,
    freed: (st.leasesFreed[shard] as number) - before,
  };
}
