import type { MemoryState, RequestRec, Reservation, Scope } from './state.js';

/**
 * Reads and writes of the records Redis keeps with a time to live. Expiry runs
 * on real (process) time, as Redis's does: the test clock offset moves the
 * engine's `now`, not the TTLs (the scripts subtract the offset for EXPIREAT).
 */

/** How long a closed (settled, released or expired) reservation and a request id are kept: 1 h. */
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

/** SET <req> `<leaseEnd>|<nonce>|<fingerprint>` PX 3600000 */
export function putReq(
  st: MemoryState,
  sc: Scope,
  id: string,
  leaseEnd: number,
  nonce: string,
  fp: string,
): void {
  const q: RequestRec = { scope: sc, id, leaseEnd, nonce, fp, expireAt: st.real + RETENTION_MS };
  sc.req.set(id, q);
  st.reqQ.push(q.expireAt, q);
}

/** dayCost: the spend of the day of `now`, micro-dollars. */
export function dayCost(st: MemoryState, sc: Scope): number {
  const d = sc.days.get(st.day);
  if (d === undefined) return 0;
  if (d.expireAt < st.real) {
    sc.days.delete(st.day);
    return 0;
  }
  return d.cost;
}

/**
 * chargeDay: adds micro-dollars to the day of `now` and returns the day's new
 * total. A new day record expires a day after its midnight (EXPIREAT, whole
 * seconds, on real time: the offset is taken off as the script does).
 */
export function chargeDay(st: MemoryState, sc: Scope, cost: number): number {
  if (cost <= 0) return dayCost(st, sc);
  const cur = dayCost(st, sc);
  const d = sc.days.get(st.day);
  if (d !== undefined) {
    d.cost = cur + cost;
    return d.cost;
  }
  const expireAt = (Math.floor((st.dayEnd - st.offset) / 1000) + 86400) * 1000;
  const rec = { scope: sc, day: st.day, cost, expireAt };
  sc.days.set(st.day, rec);
  st.dayQ.push(expireAt, rec);
  return cost;
}
