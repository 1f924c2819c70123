import type { DayRec, MemoryState, RequestRec, Reservation, Scope, UsageRec } from './state.js';

/**
 * Reads and writes of the records Redis keeps with a time to live. Expiry runs
 * on real (process) time, as Redis's does: the test clock offset moves the
 * engine's `now`, not the TTLs (the scripts subtract the offset for EXPIREAT).
 */

/**
 * How long a closed (settled, released or expired) reservation, a request id
 * and a usage id are kept: 1 h.
 */
export const RETENTION_MS = 3_600_000;

/** The reservation, unless it has expired (Redis: the hash is gone). */
export function findRes(st: MemoryState, sc: Scope, nonce: string): Reservation | undefined {
  const r = sc.res.get(nonce);
  if (r !== undefined && r.expireAt !== 0 && r.expireAt < st.real) {
    sc.res.delete(nonce);
    return undefined;
  }
  return r;
}

/** PEXPIRE <res> 3600000 */
export function keepClosedRes(st: MemoryState, r: Reservation): void {
  r.expireAt = st.real + RETENTION_MS;
  st.resQ.push(r.expireAt, r);
}

export function findReq(st: MemoryState, sc: Scope, id: string): RequestRec | undefined {
  const q = sc.req.get(id);
  if (q !== undefined && q.expireAt < st.real) {
    sc.req.delete(id);
    return undefined;
  }
  return q;
}

/**
 * SET <req> PX 3600000: the decision made for a request id, `code` Code.OK
 * with its hold's lease end and nonce, or a denial's code (a pool's: its pool).
 */
export function putReq(
  st: MemoryState,
  sc: Scope,
  id: string,
  code: number,
  leaseEnd: number,
  nonce: string,
  fp: string,
  poolId: string,
): void {
  const expireAt = st.real + RETENTION_MS;
  const q: RequestRec = { scope: sc, id, code, leaseEnd, nonce, fp, poolId, expireAt };
  sc.req.set(id, q);
  st.reqQ.push(expireAt, q);
}

export function findUse(st: MemoryState, sc: Scope, id: string): UsageRec | undefined {
  const u = sc.use.get(id);
  if (u !== undefined && u.expireAt < st.real) {
    sc.use.delete(id);
    return undefined;
  }
  return u;
}

/** SET <use> PX 3600000: what a usage id recorded and answered. */
export function putUse(
  st: MemoryState,
  sc: Scope,
  rec: Omit<UsageRec, 'scope' | 'expireAt'>,
): void {
  const u: UsageRec = { ...rec, scope: sc, expireAt: st.real + RETENTION_MS };
  sc.use.set(u.id, u);
  st.useQ.push(u.expireAt, u);
}

/** The record of the period `day` (a yyyymmdd or a yyyymm), if any and not expired. */
function periodRec(st: MemoryState, sc: Scope, day: number): DayRec | undefined {
  const d = sc.days.get(day);
  if (d !== undefined && d.expireAt < st.real) {
    sc.days.delete(day);
    return undefined;
  }
  return d;
}

/** The record of the agent's local day of `now` (its spend and overrun), if any. */
export function today(st: MemoryState, sc: Scope): DayRec | undefined {
  return sc.agent ? periodRec(st, sc, st.period(sc.agent).day) : undefined;
}

/** The record of the agent's local month of `now`, if any. */
export function thisMonth(st: MemoryState, sc: Scope): DayRec | undefined {
  return sc.agent ? periodRec(st, sc, st.period(sc.agent).month) : undefined;
}

/** dayCost: the spend of the day of `now`, micro-dollars. */
export function dayCost(st: MemoryState, sc: Scope): number {
  const d = today(st, sc);
  return d === undefined ? 0 : d.cost;
}

/** The spend of the agent's local month of `now`, micro-dollars. */
export function monthCost(st: MemoryState, sc: Scope): number {
  const m = thisMonth(st, sc);
  return m === undefined ? 0 : m.cost;
}

/** A period's expiry (EXPIREAT, whole seconds, on real time): a day after its end. */
export function dayExpiry(dayEndMs: number, offset: number): number {
  return (Math.floor((dayEndMs - offset) / 1000) + 86400) * 1000;
}

/** Adds to the record of period `day` ending at `endMs`, made when missing. */
function chargePeriod(
  st: MemoryState,
  sc: Scope,
  rec: DayRec | undefined,
  day: number,
  endMs: number,
  cost: number,
  over: number,
): DayRec {
  if (rec !== undefined) {
    rec.cost += cost;
    rec.over += over;
    return rec;
  }
  const expireAt = dayExpiry(endMs, st.offset);
  const made: DayRec = { scope: sc, day, cost, over, expireAt };
  sc.days.set(day, made);
  st.dayQ.push(expireAt, made);
  return made;
}

/**
 * chargeDay: adds micro-dollars (and their overrun, a part of them) to the
 * agent's local day and month of `now`; returns the day's record (undefined
 * when nothing was ever charged). A new record expires a day after its period
 * ends (lua/includes/agent.lua chargeDay).
 */
export function chargeDay(
  st: MemoryState,
  sc: Scope,
  cost: number,
  over: number,
): DayRec | undefined {
  const d = today(st, sc);
  if ((cost <= 0 && over <= 0) || !sc.agent) return d;
  const p = st.period(sc.agent);
  chargePeriod(st, sc, thisMonth(st, sc), p.month, p.nextMonthMs, cost, over);
  return chargePeriod(st, sc, d, p.day, p.nextDayMs, cost, over);
}
