import { Code, failure } from '../codes.js';
import { agentZone, decodeZone } from '../periods.js';
import type { PoolStatus, PoolUpdateInput } from '../types.js';
import { checkPoolUpdate } from '../validate.js';
import { poolEvent, poolStatusOf } from './pools.js';
import type { MemoryState } from './state.js';

/**
 * updatePool-*.lua: a pool's limits and zone (its parent never changes). A
 * new rate limit keeps the whole ms of its arrival time (as an agent's); a
 * new zone takes effect at once (the spend of a period stays with the date it
 * was charged to). Nothing to change: nothing written, no event.
 */
export function updatePool(st: MemoryState, i: PoolUpdateInput): PoolStatus {
  checkPoolUpdate(i);
  st.tick();
  const s = i.set;
  const zone = s.timeZone === undefined ? undefined : agentZone(s.timeZone, st.now);
  const pl = st.pools.get(i.poolId);
  if (pl === undefined) {
    throw failure(Code.POOL_NOT_FOUND, { op: 'updatePool', agentId: '', poolId: i.poolId });
  }
  const same =
    (s.dailyLimitMicros === undefined || s.dailyLimitMicros === pl.dLimit) &&
    (s.monthlyLimitMicros === undefined || s.monthlyLimitMicros === pl.mLimit) &&
    (s.requestsPerMinute === undefined || s.requestsPerMinute === pl.rpm) &&
    (s.tokensPerMinute === undefined || s.tokensPerMinute === pl.tpm) &&
    (zone === undefined || zone.name === pl.zone);
  if (same) return poolStatusOf(st, pl);
  if (s.dailyLimitMicros !== undefined) pl.dLimit = s.dailyLimitMicros;
  if (s.monthlyLimitMicros !== undefined) pl.mLimit = s.monthlyLimitMicros;
  if (s.requestsPerMinute !== undefined && s.requestsPerMinute !== pl.rpm) {
    pl.rpm = s.requestsPerMinute;
    pl.rTat = { tat: pl.rTat.tat, frac: 0 };
  }
  if (s.tokensPerMinute !== undefined && s.tokensPerMinute !== pl.tpm) {
    pl.tpm = s.tokensPerMinute;
    pl.tTat = { tat: pl.tTat.tat, frac: 0 };
  }
  if (zone !== undefined) {
    pl.zone = zone.name;
    pl.zoneT = decodeZone(zone.text);
  }
  poolEvent(st, st.rnd.eventTailBits(), 'pool_updated', pl, i.actor);
  return poolStatusOf(st, pl);
}
