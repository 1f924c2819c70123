import { Code, denialOf } from '../codes.js';
import { costMicros } from '../money.js';
import type { AuthorizeInput, AuthorizeResult, Exceeded } from '../types.js';
import { checkAuthorize } from '../validate.js';
import { allowedEvent, deniedEvent } from './decision-events.js';
import { idempotencyConflict, unauthenticated, wrongKey } from './errors.js';
import { addLease, freeExpired } from './leases.js';
import { dayCost, findReq, findRes, putReq } from './records.js';
import { type MemoryState, type Reservation, saveCounters } from './state.js';
import { statusOf } from './status.js';

const DENIAL_NAMES: Record<number, string> = {
  [Code.AGENT_SUSPENDED]: 'AGENT_SUSPENDED',
  [Code.RBAC_DENIED]: 'RBAC_DENIED',
  [Code.BUDGET_SESSION]: 'BUDGET_EXCEEDED',
  [Code.BUDGET_DAILY]: 'BUDGET_EXCEEDED',
};

/**
 * authorizeBatch-1.lua (one decision of it): may the agent do the operation, and does the estimate fit
 * every limit? If so, hold the estimate under a reservation with a lease.
 * Every outcome appends its decision event; request errors write nothing.
 */
export function authorize(st: MemoryState, i: AuthorizeInput): AuthorizeResult {
  // Every key of `scopes` is an agent id that passed its check.
  checkAuthorize(i, st.checks, st.scopes.has(i.agentId));
  st.tick();
  const now = st.now;
  const agentId = i.agentId;
  const estimate = i.estimatedTokens;
  const rates = i.rates;
  const holdCost = costMicros(
    estimate,
    Math.max(rates.inputMicrosPerMillion, rates.outputMicrosPerMillion),
    0,
    0,
  );
  const tail = st.rnd.eventTailBits();

  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) {
    const shard = sc ? sc.shard : st.shardOf(agentId);
    deniedEvent(st, shard, tail, 0, i, null, 'AGENT_NOT_FOUND', '', 0);
    return { allowed: false, code: 'AGENT_NOT_FOUND', status: null };
  }
  if (wrongKey(i.keyDigest, a.digest)) throw unauthenticated(agentId);

  const requestId = i.requestId ?? '';
  if (requestId !== '') {
    const prior = findReq(st, sc, requestId);
    // A request id whose hold is gone (its agent was deleted) is decided afresh.
    if (prior && findRes(st, sc, prior.nonce)) {
      if (prior.fp !== fingerprint(i)) throw idempotencyConflict(agentId);
      return {
        allowed: true,
        reservationId: `${agentId}.${prior.nonce}`,
        leaseEndMs: prior.leaseEnd,
        holdCostMicros: holdCost,
        replayed: true,
        status: statusOf(agentId, a, dayCost(st, sc), now),
      };
    }
  }

  const n = freeExpired(st, sc, a, tail, 0);
  const cUsed = dayCost(st, sc);

  let code: number = Code.OK;
  let exceeded: Exceeded | '' = '';
  if (a.status !== 'active') {
    code = Code.AGENT_SUSPENDED;
  } else if (!i.allowedRoles.includes(a.role)) {
    code = Code.RBAC_DENIED;
  } else if (a.sUsed + a.sRes + estimate > a.sLimit) {
    code = Code.BUDGET_SESSION;
    exceeded = 'session';
  } else if (cUsed + a.cRes + holdCost > a.dLimit) {
    code = Code.BUDGET_DAILY;
    exceeded = 'daily';
  }

  if (code !== Code.OK) {
    a.blocked += 1;
    if (st.dirty) saveCounters(a);
    const name = DENIAL_NAMES[code] as string;
    deniedEvent(st, sc.shard, tail, n, i, a, name, exceeded, cUsed);
    return {
      allowed: false,
      ...denialOf(code),
      status: statusOf(agentId, a, cUsed, now),
    } as AuthorizeResult;
  }

  const leaseEnd = now + i.leaseMs;
  const nonce = st.rnd.nonce();
  a.sRes += estimate;
  a.cRes += holdCost;
  if (a.nextExp === 0 || leaseEnd < a.nextExp) a.nextExp = leaseEnd;
  saveCounters(a);
  const r: Reservation = {
    scope: sc,
    nonce,
    st: 'open',
    sid: a.sid,
    tok: estimate,
    cost: holdCost,
    rin: rates.inputMicrosPerMillion,
    rout: rates.outputMicrosPerMillion,
    op: i.operation,
    model: rates.model,
    exp: leaseEnd,
    req: requestId,
    inTokens: 0,
    outTokens: 0,
    charged: 0,
    result: '',
    expireAt: 0,
  };
  sc.res.set(r);
  addLease(sc.leases, r);
  if (requestId !== '') putReq(st, sc, requestId, leaseEnd, nonce, fingerprint(i));
  allowedEvent(st, tail, n, a, r, cUsed, i.actor);
  return {
    allowed: true,
    reservationId: `${agentId}.${nonce}`,
    leaseEndMs: leaseEnd,
    holdCostMicros: holdCost,
    replayed: false,
    status: statusOf(agentId, a, cUsed, now),
  };
}

/** What a request id stands for: `operation|estimate|model`. */
function fingerprint(i: AuthorizeInput): string {
  return `${i.operation}|${i.estimatedTokens}|${i.rates.model}`;
}
