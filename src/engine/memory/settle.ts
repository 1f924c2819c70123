import { NO_ALERTS } from '../alerts.js';
import { Code, failure, type Subject, settleOutcome } from '../codes.js';
import { costMicros } from '../money.js';
import type { EventTailBits } from '../random.js';
import { agentRateCorrect } from '../rate.js';
import type { SettleInput, SettleResult } from '../types.js';
import { checkSettle } from '../validate.js';
import { agentAlerts, poolAlerts } from './alerts.js';
import { settleEvent } from './events.js';
import { statusNow } from './getStatus.js';
import { freeExpired, removeLease } from './leases.js';
import { closePools } from './pools.js';
import { chargeDay, findRes, findUse, keepClosedRes, putUse } from './records.js';
import {
  type AgentRec,
  type MemoryState,
  type Reservation,
  type Scope,
  saveCounters,
  wrongKey,
} from './state.js';

/** How far settle-by-operation looks into the leases (ZRANGE leases 0 63). */
const SCAN = 64;

/**
 * settle (lua/settle-*.lua): record what an authorized operation really used and free its
 * hold. Usage is never refused: it is priced at the hold's rates, counts for
 * the session current at the settle and for the day of the settle, and what
 * goes above the hold is recorded as overrun. Idempotent by reservation id (a
 * settle with other usage, or of a released hold, is a conflict); without
 * one, settles the oldest open hold for the operation, idempotent by usage id.
 */
export function settle(st: MemoryState, i: SettleInput): SettleResult {
  const { agentId, nonce: given } = checkSettle(i);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  const subject = subjectOf(agentId, i);
  if (!sc || !a) throw failure(Code.AGENT_NOT_FOUND, subject);
  if (wrongKey(i.keyDigest, a.digest)) throw failure(Code.UNAUTHENTICATED, subject);
  if (given === '') return settleByOperation(st, sc, a, i);

  const r = findRes(st, sc, given);
  if (!r) throw failure(Code.RESERVATION_NOT_FOUND, subject);
  checkModel(sc, r, i);
  if (r.st === 'settled' || r.st === 'released') return closed(st, sc, a, r, i);
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  return settleHold(st, sc, a, r, i, tail, n);
}

/**
 * A settle of a hold closed by a call: the same usage and result (and, when
 * the settle gives a cost, that cost charged) answers the recorded cost;
 * other usage, or a released hold, is a conflict. Writes nothing.
 */
function closed(
  st: MemoryState,
  sc: Scope,
  a: AgentRec,
  r: Reservation,
  i: SettleInput,
): SettleResult {
  const resId = `${sc.agentId}.${r.nonce}`;
  const conflict = { ...subjectOf(sc.agentId, i), reservationId: resId };
  if (r.st === 'released') {
    throw failure(Code.IDEMPOTENCY_CONFLICT, { ...conflict, recorded: { state: 'released' } });
  }
  if (
    r.inTokens !== i.inputTokens ||
    r.outTokens !== i.outputTokens ||
    r.result !== i.result ||
    (i.costMicros !== undefined && r.charged !== i.costMicros)
  ) {
    throw failure(Code.IDEMPOTENCY_CONFLICT, {
      ...conflict,
      recorded: {
        state: 'settled',
        input_tokens: r.inTokens,
        output_tokens: r.outTokens,
        result: r.result,
        cost: r.charged,
      },
    });
  }
  return {
    outcome: settleOutcome(Code.ALREADY_CLOSED),
    reservationId: resId,
    costMicros: r.charged,
    overrunTokens: r.overTokens,
    overrunMicros: r.overMicros,
    status: statusNow(st, sc, a),
  };
}

/**
 * A settle that names a model must name its hold's (the model its profile
 * named when it was made): else MODEL_MISMATCH, thrown before the settle
 * writes anything.
 */
function checkModel(sc: Scope, r: Reservation, i: SettleInput): void {
  if (i.model !== undefined && i.model !== r.model) {
    throw failure(Code.MODEL_MISMATCH, { ...subjectOf(sc.agentId, i), holdModel: r.model });
  }
}

/** What a settle's errors name (src/engine/codes.ts failure). */
function subjectOf(agentId: string, i: SettleInput): Subject {
  return { op: 'settle', agentId, reservationId: i.reservationId, usageId: i.usageId };
}

/** What a usage id of a settle by operation stands for: `operation|in|out|result`. */
function fingerprint(i: SettleInput): string {
  return `${i.operation ?? ''}|${i.inputTokens}|${i.outputTokens}|${i.result}`;
}

/**
 * Settle without a reservation id: a known usage id answers what it recorded
 * (a settle's answer; a recorded usage: `no_hold`, the caller records its
 * usage with the same id, which replays), else the oldest open hold of the
 * operation among the first 64 leases is settled and the usage id kept.
 */
function settleByOperation(st: MemoryState, sc: Scope, a: AgentRec, i: SettleInput): SettleResult {
  const fp = fingerprint(i);
  if (i.usageId !== undefined) {
    const u = findUse(st, sc, i.usageId);
    if (u) {
      if (u.kind === 'usage') return noHold(st, sc, a);
      const prior = findRes(st, sc, u.nonce);
      if (prior) checkModel(sc, prior, i);
      if (u.fp !== fp || (i.costMicros !== undefined && u.cost !== i.costMicros)) {
        throw failure(Code.IDEMPOTENCY_CONFLICT, subjectOf(sc.agentId, i));
      }
      return {
        outcome: settleOutcome(Code.ALREADY_CLOSED),
        reservationId: `${sc.agentId}.${u.nonce}`,
        costMicros: u.cost,
        overrunTokens: u.overTokens,
        overrunMicros: u.overMicros,
        status: statusNow(st, sc, a),
      };
    }
  }
  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  const op = i.operation ?? '';
  const leases = sc.leases;
  const end = Math.min(leases.length, SCAN);
  let r: Reservation | undefined;
  for (let k = 0; k < end; k++) {
    const x = leases[k] as Reservation;
    if (x.st === 'open' && x.op === op) {
      r = x;
      break;
    }
  }
  if (st.dirty) saveCounters(a);
  if (!r) return noHold(st, sc, a);
  checkModel(sc, r, i);
  const out = settleHold(st, sc, a, r, i, tail, n);
  putUse(st, sc, {
    id: i.usageId ?? st.rnd.nonce(),
    kind: 'settle',
    fp,
    nonce: r.nonce,
    cost: out.costMicros,
    overTokens: out.overrunTokens,
    overMicros: out.overrunMicros,
  });
  return out;
}

function noHold(st: MemoryState, sc: Scope, a: AgentRec): SettleResult {
  return {
    outcome: settleOutcome(Code.NO_HOLD),
    reservationId: '',
    costMicros: 0,
    overrunTokens: 0,
    overrunMicros: 0,
    status: statusNow(st, sc, a),
  };
}

/**
 * Settles `r`, open (its hold is freed) or expired (a late settle): the usage
 * at the hold's rates (or at the cost the caller priced), for the current
 * session and today, with its overrun.
 */
function settleHold(
  st: MemoryState,
  sc: Scope,
  a: AgentRec,
  r: Reservation,
  i: SettleInput,
  tail: EventTailBits,
  n: number,
): SettleResult {
  const open = r.st === 'open';
  if (open) {
    a.sRes -= r.tok;
    a.cRes -= r.cost;
    removeLease(sc.leases, r);
  }
  const inTokens = i.inputTokens;
  const outTokens = i.outputTokens;
  const tokens = inTokens + outTokens;
  const cost = i.costMicros ?? costMicros(inTokens, r.rin, outTokens, r.rout);
  const overTokens = tokens > r.tok ? tokens - r.tok : 0;
  const overMicros = cost > r.cost ? cost - r.cost : 0;
  a.sUsed += tokens;
  a.sCost += cost;
  a.sOver += overTokens;
  // Tokens per minute: the hold took its estimate; the usage corrects it (src/engine/rate.ts).
  agentRateCorrect(a, tokens - r.tok, st.now);
  // Every pool the hold was made under: freed, charged and corrected the same way (pools.ts).
  if (r.pools.length > 0) closePools(st, r.pools, r.cost, open, cost, tokens - r.tok);
  saveCounters(a);
  const d = chargeDay(st, sc, cost, overMicros);
  r.st = 'settled';
  r.inTokens = inTokens;
  r.outTokens = outTokens;
  r.charged = cost;
  r.result = i.result;
  r.overTokens = overTokens;
  r.overMicros = overMicros;
  keepClosedRes(st, r);
  settleEvent(st, tail, n, a, r, d === undefined ? 0 : d.cost, i);
  // A budget that crossed a threshold: its mark and budget_alert (alerts.ts), the agent's
  // then its hold's pools'.
  const alerts = i.alerts ?? NO_ALERTS;
  const next = agentAlerts(st, sc, a, tokens, cost, tail, n + 1, alerts);
  if (r.pools.length > 0) poolAlerts(st, sc, r.pools, cost, tail, next, alerts);
  return {
    outcome: settleOutcome(Code.OK),
    reservationId: `${sc.agentId}.${r.nonce}`,
    costMicros: cost,
    overrunTokens: overTokens,
    overrunMicros: overMicros,
    status: statusNow(st, sc, a),
  };
}
