import type { Reservation } from './state.js';

/**
 * The number of a nonce's first 6 hex digits: the 24-bit hold sequence of the
 * engine that made it (random.ts). Nonces are lowercase hex (checked, or made
 * here).
 */
function seqOf(nonce: string): number {
  let k = 0;
  for (let j = 0; j < 6; j++) {
    const c = nonce.charCodeAt(j);
    k = (k << 4) | (c <= 57 ? c - 48 : c - 87);
  }
  return k;
}

/**
 * One scope's reservations by nonce (its `res:<nonce>` keys), with a Map's
 * meaning: one record per nonce, a new one replaces the old. The map's key is
 * the nonce's sequence number, a small integer, which costs far less to hash
 * and to rehash as the map grows than the text; nonces that share it (the
 * sequence wraps every 16.7M holds) share an array.
 */
export class ResIndex {
  private readonly bySeq = new Map<number, Reservation | Reservation[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(nonce: string): Reservation | undefined {
    const v = this.bySeq.get(seqOf(nonce));
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return v.nonce === nonce ? v : undefined;
    for (const r of v) if (r.nonce === nonce) return r;
    return undefined;
  }

  set(r: Reservation): void {
    const k = seqOf(r.nonce);
    const v = this.bySeq.get(k);
    if (v === undefined) {
      this.bySeq.set(k, r);
      this.count++;
    } else if (!Array.isArray(v)) {
      if (v.nonce === r.nonce) {
        this.bySeq.set(k, r);
      } else {
        this.bySeq.set(k, [v, r]);
        this.count++;
      }
    } else {
      const at = v.findIndex((x) => x.nonce === r.nonce);
      if (at >= 0) {
        v[at] = r;
      } else {
        v.push(r);
        this.count++;
      }
    }
  }

  /** Removes every record. */
  clear(): void {
    this.bySeq.clear();
    this.count = 0;
  }

  /** Removes the record of `nonce`; true if there was one. */
  delete(nonce: string): boolean {
    const k = seqOf(nonce);
    const v = this.bySeq.get(k);
    if (v === undefined) return false;
    if (!Array.isArray(v)) {
      if (v.nonce !== nonce) return false;
      this.bySeq.delete(k);
    } else {
      const at = v.findIndex((x) => x.nonce === nonce);
      if (at < 0) return false;
      v.splice(at, 1);
      if (v.length === 1) this.bySeq.set(k, v[0] as Reservation);
    }
    this.count--;
    return true;
  }
}
