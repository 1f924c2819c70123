import { Code, denialOf, denied, failure, wouldDenyOf } from '../codes.js';
import { costMicros } from '../money.js';
import { type Profile, profileOf } from '../profile.js';
import { agentRate, type Tat } from '../rate.js';
import type {
  AuthorizeInput,
  AuthorizeResult,
  Exceeded,
  RateExceeded,
  ReservationState,
  WouldDeny,
} from '../types.js';
import { checkAgentId, checkAuthorize } from '../validate.js';
import { allowedEvent, deniedEvent } from './decision-events.js';
import { statusNow } from './getStatus.js';
import { addLease, freeExpired } from './leases.js';
import { checkPools, holdPools, type PoolCheck } from './pools.js';
import { findReq, findRes, monthCost, putReq, today } from './records.js';
import { shadowApplies, shadowRest } from './shadow.js';
import {
  type AgentRec,
  type MemoryState,
  type RequestRec,
  type Reservation,
  type Scope,
  saveCounters,
  wrongKey,
} from './state.js';

/**
 * authorize-1.lua (one decision of it): may the agent do the operation, and does the estimate fit
 * every limit? If so, hold the estimate under a reservation with a lease; a
 * denial shadow mode lets pass is held the same way (./shadow.ts).
 * Every decision appends its decision event and is remembered under its
 * request id, whose replay answers it again and writes nothing. A missing
 * agent and request errors write nothing.
 */
export function authorize(st: MemoryState, i: AuthorizeInput): AuthorizeResult {
  const agentId = i.agentId;
  // Every key of `scopes` is an agent id that passed its check.
  const known = st.scopes.has(agentId);
  if (!known) checkAgentId(agentId);
  const p = profileOf(i);
  checkAuthorize(i, true);
  st.tick();
  const now = st.now;

  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) return denied(Code.AGENT_NOT_FOUND, false, null);
  if (wrongKey(i.keyDigest, a.digest)) {
    throw failure(Code.UNAUTHENTICATED, { op: 'authorize', agentId });
  }

  const requestId = i.requestId ?? '';
  if (requestId !== '') {
    const prior = findReq(st, sc, requestId);
    if (prior) {
      const replay = replayOf(st, sc, a, prior, i, p);
      if (replay) return replay;
    }
  }

  const estimate = i.estimatedTokens;
  const rates = p.rates;
  const holdCost = i.holdCostMicros ?? costMicros(estimate, p.holdRate, 0, 0);
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  const d = today(st, sc);
  const cUsed = d === undefined ? 0 : d.cost;

  let code: number = Code.OK;
  let exceeded: Exceeded | RateExceeded | '' = '';
  let retryMs = 0;
  let poolId = '';
  let tats: { rTat: Tat; tTat: Tat } | null = null;
  let poolTats: { rTat: Tat; tTat: Tat }[] | null = null;
  let pools: PoolCheck | null = null;
  if (a.status !== 'active') {
    code = Code.AGENT_SUSPENDED;
  } else if (!p.allowedRoles.includes(a.role)) {
    code = Code.RBAC_DENIED;
  } else if (a.sUsed + a.sRes + estimate > a.sLimit) {
    code = Code.BUDGET_SESSION;
    exceeded = 'session';
  } else if (cUsed + a.cRes + holdCost > a.dLimit) {
    code = Code.BUDGET_DAILY;
    exceeded = 'daily';
  } else if (a.mLimit > 0 && monthCost(st, sc) + a.cRes + holdCost > a.mLimit) {
    code = Code.BUDGET_MONTHLY;
    exceeded = 'monthly';
  } else if (a.rpm > 0 || a.tpm > 0) {
    // The rate limits, after the budgets (src/engine/rate.ts): stored below, once held.
    const rate = agentRate(a, estimate, now);
    if (rate.code === null) {
      tats = rate;
    } else {
      code = rate.code;
      retryMs = rate.retryMs;
      exceeded = code === Code.RATE_REQUESTS ? 'requests_per_minute' : 'tokens_per_minute';
    }
  }
  if (code === Code.OK && a.pools.length > 0) {
    // Then every pool above the agent, leaf first (pools.ts): stored below, once held.
    const c = checkPools(st, a.pools, holdCost, estimate);
    pools = c;
    if (c.code === null) {
      poolTats = c.tats;
    } else {
      code = c.code;
      poolId = c.poolId;
      retryMs = c.retryMs;
      exceeded =
        code === Code.POOL_RATE_REQUESTS
          ? 'requests_per_minute'
          : code === Code.POOL_RATE_TOKENS
            ? 'tokens_per_minute'
            : 'pool';
    }
  }

  // Shadow mode: the denial is held as if allowed, the checks it skipped made first.
  let wouldDeny: WouldDeny | undefined;
  if (code !== Code.OK && shadowApplies(p, a.role, agentId, code)) {
    const rest = shadowRest(st, a, code, estimate, holdCost, pools);
    if (rest.tats !== null) tats = rest.tats;
    poolTats = rest.poolTats;
    wouldDeny = wouldDenyOf(code, poolId);
    code = Code.OK;
  }

  if (code !== Code.OK) {
    a.blocked += 1;
    if (st.dirty) saveCounters(a);
    // A rate limit's denial keeps, as its lease end, the time it may pass (a replay's retry).
    const retryAt = retryMs > 0 ? now + retryMs : 0;
    if (requestId !== '') {
      putReq(st, sc, requestId, code, retryAt, '', fingerprint(i, p), poolId);
    }
    const name = denialOf(code)?.code as string;
    deniedEvent(st, sc.shard, tail, n, i, p, a, name, exceeded, cUsed, poolId);
    return denied(code, false, statusNow(st, sc, a), retryMs, poolId);
  }

  const leaseEnd = now + p.leaseMs;
  const nonce = st.rnd.nonce();
  a.sRes += estimate;
  a.cRes += holdCost;
  if (tats !== null) {
    a.rTat = tats.rTat;
    a.tTat = tats.tTat;
  }
  if (poolTats !== null) holdPools(st, a.pools, holdCost, poolTats);
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
    op: p.operation,
    model: rates.model,
    exp: leaseEnd,
    req: requestId,
    pools: a.pools,
    inTokens: 0,
    outTokens: 0,
    charged: 0,
    result: '',
    overTokens: 0,
    overMicros: 0,
    expireAt: 0,
  };
  sc.res.set(r);
  addLease(sc.leases, r);
  if (requestId !== '') {
    putReq(st, sc, requestId, Code.OK, leaseEnd, nonce, fingerprint(i, p), '');
  }
  allowedEvent(st, tail, n, a, r, cUsed, i.actor, wouldDeny);
  const result: AuthorizeResult = {
    allowed: true,
    reservationId: `${agentId}.${nonce}`,
    leaseEndMs: leaseEnd,
    holdCostMicros: holdCost,
    replayed: false,
    reservationState: 'open',
    status: statusNow(st, sc, a),
  };
  if (wouldDeny !== undefined) result.wouldDeny = wouldDeny;
  return result;
}

/**
 * The answer to a request id decided before (its fingerprint must match):
 * the recorded denial, or the hold with its state now. Writes nothing.
 * Undefined when the hold's record is gone (not while the request id is kept:
 * a closed hold's record outlives it): the request is decided afresh.
 */
function replayOf(
  st: MemoryState,
  sc: Scope,
  a: AgentRec,
  prior: RequestRec,
  i: AuthorizeInput,
  p: Profile,
): AuthorizeResult | undefined {
  if (prior.fp !== fingerprint(i, p)) {
    throw failure(Code.IDEMPOTENCY_CONFLICT, { op: 'authorize', agentId: sc.agentId });
  }
  if (prior.code !== Code.OK) {
    const retryMs = prior.leaseEnd > st.now ? prior.leaseEnd - st.now : 0;
    return denied(prior.code, true, statusNow(st, sc, a), retryMs, prior.poolId);
  }
  const r = findRes(st, sc, prior.nonce);
  if (!r) return undefined;
  return {
    allowed: true,
    reservationId: `${sc.agentId}.${r.nonce}`,
    leaseEndMs: prior.leaseEnd,
    holdCostMicros: r.cost,
    replayed: true,
    reservationState: stateOf(r, st.now),
    status: statusNow(st, sc, a),
  };
}

/** Where a reservation stands now: an open hold whose lease has passed is expired. */
export function stateOf(r: Reservation, now: number): ReservationState {
  return r.st === 'open' && r.exp <= now ? 'expired' : r.st;
}

/** What a request id stands for: `operation|estimate|model`, then `|holdCost` when priced. */
function fingerprint(i: AuthorizeInput, p: Profile): string {
  const fp = `${p.operation}|${i.estimatedTokens}|${p.rates.model}`;
  return i.holdCostMicros === undefined ? fp : `${fp}|${i.holdCostMicros}`;
}
