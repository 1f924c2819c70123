import type { ReleaseInput, ReleaseResult } from '../types.js';
import { checkRelease } from '../validate.js';
import { reservationNotFound, unauthenticated, wrongKey } from './errors.js';
import { releaseEvent } from './events.js';
import { freeExpired, removeLease } from './leases.js';
import { findRes, keepClosedRes } from './records.js';
import { type MemoryState, saveCounters } from './state.js';
import { statusNow } from './status.js';

/**
 * release-4.lua: free a hold without usage. Idempotent by reservation id (a
 * hold settled or released before: `already_closed`, nothing written);
 * releasing a hold whose lease already expired only closes it (no event).
 */
export function release(st: MemoryState, i: ReleaseInput): ReleaseResult {
  const { agentId, nonce } = checkRelease(i);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw reservationNotFound(i);
  if (wrongKey(i.keyDigest, a.digest)) throw unauthenticated(agentId);

  const r = findRes(st, sc, nonce);
  if (!r) throw reservationNotFound(i);
  if (r.st === 'settled' || r.st === 'released') {
    return {
      outcome: 'already_closed',
      reservationId: i.reservationId,
      status: statusNow(st, sc, a),
    };
  }
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  if (r.st === 'open') {
    a.sRes -= r.tok;
    a.cRes -= r.cost;
    removeLease(sc.leases, r);
    st.dirty = true;
    releaseEvent(st, tail, n, a, r, 'released', i.actor);
  }
  r.st = 'released';
  r.result = 'released';
  keepClosedRes(st, r);
  if (st.dirty) saveCounters(a);
  return { outcome: 'released', reservationId: i.reservationId, status: statusNow(st, sc, a) };
}
