import { Code, failure, releaseOutcome } from '../codes.js';
import { agentRateCorrect } from '../rate.js';
import type { ReleaseInput, ReleaseResult } from '../types.js';
import { checkRelease } from '../validate.js';
import { releaseEvent } from './events.js';
import { statusNow } from './getStatus.js';
import { freeExpired, removeLease } from './leases.js';
import { closePools } from './pools.js';
import { findRes, keepClosedRes } from './records.js';
import { type MemoryState, saveCounters, wrongKey } from './state.js';

/**
 * release-3.lua: free a hold without usage. Idempotent by reservation id (a
 * hold settled or released before: `already_closed`, nothing written);
 * releasing a hold whose lease already expired only closes it (no event).
 */
export function release(st: MemoryState, i: ReleaseInput): ReleaseResult {
  const { agentId, nonce } = checkRelease(i);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  const subject = { op: 'release' as const, agentId, reservationId: i.reservationId };
  if (!sc || !a) throw failure(Code.AGENT_NOT_FOUND, subject);
  if (wrongKey(i.keyDigest, a.digest)) throw failure(Code.UNAUTHENTICATED, subject);

  const r = findRes(st, sc, nonce);
  if (!r) throw failure(Code.RESERVATION_NOT_FOUND, subject);
  if (r.st === 'settled' || r.st === 'released') {
    return {
      outcome: releaseOutcome(Code.ALREADY_CLOSED),
      reservationId: i.reservationId,
      status: statusNow(st, sc, a),
    };
  }
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  const open = r.st === 'open';
  if (open) {
    a.sRes -= r.tok;
    a.cRes -= r.cost;
    removeLease(sc.leases, r);
    st.dirty = true;
    releaseEvent(st, tail, n, a, r, 'released', i.actor);
  }
  // Tokens per minute: the hold's estimate is given back (src/engine/rate.ts).
  agentRateCorrect(a, -r.tok, st.now);
  if (r.pools.length > 0) closePools(st, r.pools, r.cost, open, 0, -r.tok);
  r.st = 'released';
  r.result = 'released';
  keepClosedRes(st, r);
  if (st.dirty) saveCounters(a);
  return {
    outcome: releaseOutcome(Code.OK),
    reservationId: i.reservationId,
    status: statusNow(st, sc, a),
  };
}
