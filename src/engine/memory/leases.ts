import type { EventTailBits } from '../random.js';
import { releaseEvent } from './events.js';
import { closePools } from './pools.js';
import { keepClosedRes } from './records.js';
import type { AgentRec, MemoryState, Reservation, Scope } from './state.js';

/**
 * The leases zset (member: nonce, score: lease end) as an array of open holds
 * kept sorted by (lease end, nonce), the zset's order. Leases are mostly
 * added with the latest end and closed oldest first, so both ends are cheap.
 */
function before(x: Reservation, exp: number, nonce: string): boolean {
  return x.exp < exp || (x.exp === exp && x.nonce < nonce);
}

/** First index whose lease is not before (exp, nonce). */
function lowerBound(leases: Reservation[], exp: number, nonce: string): number {
  let lo = 0;
  let hi = leases.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(leases[mid] as Reservation, exp, nonce)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ZADD leases <exp> <nonce> */
export function addLease(leases: Reservation[], r: Reservation): void {
  const last = leases[leases.length - 1];
  if (last === undefined || before(last, r.exp, r.nonce)) {
    leases.push(r);
    return;
  }
  leases.splice(lowerBound(leases, r.exp, r.nonce), 0, r);
}

/** ZREM leases <nonce> */
export function removeLease(leases: Reservation[], r: Reservation): void {
  if (leases[0] === r) {
    leases.shift();
    return;
  }
  const i = lowerBound(leases, r.exp, r.nonce);
  if (leases[i] === r) leases.splice(i, 1);
}

/**
 * freeExpired of lua/includes/leases.lua: frees holds whose lease has passed,
 * at most `maxFree` per call (`limit`: fewer, what is left of a call's
 * share), oldest first; each keeps its record (expired) for an hour and emits
 * a `release` event (`lease_expired`). Its tokens leave the session's
 * reserved ones (holds move with the session), its cost the day's.
 * `next_exp` makes the common case one comparison. Returns the number of
 * events so far.
 */
export function freeExpired(
  st: MemoryState,
  sc: Scope,
  a: AgentRec,
  tail: EventTailBits,
  n: number,
  limit = st.maxFree,
): number {
  const now = st.now;
  if (a.nextExp === 0 || a.nextExp > now) return n;
  const leases = sc.leases;
  const max = limit < 0 ? leases.length : limit;
  let k = 0;
  let freed = 0;
  while (k < max && k < leases.length) {
    const r = leases[k] as Reservation;
    if (r.exp > now) break;
    if (r.st === 'open') {
      a.sRes -= r.tok;
      a.cRes -= r.cost;
      if (r.pools.length > 0) closePools(st, r.pools, r.cost, true, 0, null);
      r.st = 'expired';
      keepClosedRes(st, r);
      releaseEvent(st, tail, n, a, r, 'lease_expired', 'system');
      n++;
      freed++;
    }
    k++;
  }
  if (k > 0) leases.splice(0, k);
  st.leasesFreed[sc.shard] = (st.leasesFreed[sc.shard] ?? 0) + freed;
  a.nextExp = leases.length > 0 ? (leases[0] as Reservation).exp : 0;
  st.dirty = true;
  return n;
}
