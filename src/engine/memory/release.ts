import type { ReleaseInput, ReleaseResult } from '../types.js';
import { checkRelease } from '../validate.js';
import { reservationNotFound, unauthenticated, wrongKey } from './errors.js';
import { releaseEvent } from './events.js';
import { freeExpired, removeLease } from './leases.js';
import { dayCost, findRes, keepClosedRes } from './records.js';
import { type MemoryState, saveCounters } from './state.js';
import { statusOf } from './status.js';

/**
 * release-4.lua: free a hold without usage. Idempotent by reservation id;
 * releasing a hold whose lease already expired only closes it (no event).
 */
export function release(st: MemoryState, i: ReleaseInput): ReleaseResult {
  const { agentId, nonce } = checkRelease(i);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw reservationNotFound(i);
  if (wrongKey(i.keyDigest, a.digest)) throw unauthenticated(agentId);
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);

  const r = findRes(st, sc, nonce);
  if (!r) {
    if (st.dirty) saveCounters(a);
    throw reservationNotFound(i);
  }
  const closed = r.st === 'done';
  if (!closed) {
    if (r.st === 'open') {
      if (r.sid === a.sid) a.sRes -= r.tok;
      a.cRes -= r.cost;
      removeLease(sc.leases, r);
      st.dirty = true;
      releaseEvent(st, tail, n, a, r, 'released', i.actor);
    }
    r.st = 'done';
    r.result = 'released';
    keepClosedRes(st, r);
  }
  if (st.dirty) saveCounters(a);
  return {
    outcome: closed ? 'already_closed' : 'released',
    reservationId: i.reservationId,
    status: statusOf(agentId, a, dayCost(st, sc), st.now),
  };
}
