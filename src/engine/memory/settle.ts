import { costMicros } from '../money.js';
import type { SettleInput, SettleResult } from '../types.js';
import { checkSettle } from '../validate.js';
import { notFound, reservationNotFound, unauthenticated, wrongKey } from './errors.js';
import { settleEvent } from './events.js';
import { freeExpired, removeLease } from './leases.js';
import { chargeDay, dayCost, findRes, keepClosedRes } from './records.js';
import { type MemoryState, type Reservation, saveCounters } from './state.js';
import { statusOf } from './status.js';

/** How far settle-by-operation looks into the leases (ZRANGE leases 0 63). */
const SCAN = 64;

/**
 * settle-4.lua: record what an authorized operation really used and free its
 * hold. Usage is never refused. Tokens count for the hold's session if it is
 * still current; cost counts for the day of the settle. Idempotent by
 * reservation id; without one, settles the oldest open hold for the operation.
 */
export function settle(st: MemoryState, i: SettleInput): SettleResult {
  const { agentId, nonce: given } = checkSettle(i);
  st.tick();
  const now = st.now;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw given === '' ? notFound(agentId) : reservationNotFound(i);
  if (wrongKey(i.keyDigest, a.digest)) throw unauthenticated(agentId);
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);

  let r: Reservation | undefined;
  if (given === '') {
    const op = i.operation ?? '';
    const leases = sc.leases;
    const end = Math.min(leases.length, SCAN);
    for (let k = 0; k < end; k++) {
      const x = leases[k] as Reservation;
      if (x.st === 'open' && x.op === op) {
        r = x;
        break;
      }
    }
    if (!r) {
      if (st.dirty) saveCounters(a);
      return {
        outcome: 'no_hold',
        reservationId: '',
        costMicros: 0,
        status: statusOf(agentId, a, dayCost(st, sc), now),
      };
    }
  } else {
    r = findRes(st, sc, given);
  }

  if (!r) {
    if (st.dirty) saveCounters(a);
    throw reservationNotFound(i);
  }
  const resId = `${agentId}.${r.nonce}`;
  if (r.st === 'done') {
    if (st.dirty) saveCounters(a);
    return {
      outcome: 'already_closed',
      reservationId: resId,
      costMicros: 0,
      status: statusOf(agentId, a, dayCost(st, sc), now),
    };
  }

  if (r.st === 'open') {
    if (r.sid === a.sid) a.sRes -= r.tok;
    a.cRes -= r.cost;
    removeLease(sc.leases, r);
  }
  const rates = i.rates;
  const inRate = rates ? rates.inputMicrosPerMillion : r.rin;
  const outRate = rates ? rates.outputMicrosPerMillion : r.rout;
  const model = rates ? rates.model : r.model;
  const inTokens = i.inputTokens;
  const outTokens = i.outputTokens;
  const cost = costMicros(inTokens, inRate, outTokens, outRate);
  if (r.sid === a.sid) {
    a.sUsed += inTokens + outTokens;
    a.sCost += cost;
  }
  saveCounters(a);
  const cUsed = chargeDay(st, sc, cost);
  r.st = 'done';
  r.inTokens = inTokens;
  r.outTokens = outTokens;
  r.charged = cost;
  r.result = i.result;
  keepClosedRes(st, r);
  settleEvent(st, tail, n, a, r, inTokens, outTokens, cost, model, i.result, cUsed, i.actor);
  return {
    outcome: 'settled',
    reservationId: resId,
    costMicros: cost,
    status: statusOf(agentId, a, cUsed, now),
  };
}
