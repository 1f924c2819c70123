/**
 * An AuditStore that hands every call to the real one and watches
 * insertEvents: how many statements, how many events, the time spent in them,
 * and (optionally) each event's `at` with the moment its insert returned, the
 * moment it was committed and visible in the store.
 */
import type { AuditEvent } from '../../src/audit/event.js';
import type { AuditStore } from '../../src/audit/store/types.js';

/** Pairs of numbers in two growable Float64Arrays (no allocation per event). */
export class PairLog {
  private a = new Float64Array(1 << 16);
  private b = new Float64Array(1 << 16);
  length = 0;

  add(x: number, y: number): void {
    if (this.length === this.a.length) {
      const a = new Float64Array(this.a.length * 2);
      const b = new Float64Array(this.b.length * 2);
      a.set(this.a);
      b.set(this.b);
      this.a = a;
      this.b = b;
    }
    this.a[this.length] = x;
    this.b[this.length++] = y;
  }

  forEach(fn: (x: number, y: number) => void): void {
    for (let i = 0; i < this.length; i++) fn(this.a[i] as number, this.b[i] as number);
  }
}

export interface TimedStore {
  store: AuditStore;
  /** insertEvents calls (one statement each) and events handed to them. */
  inserts: number;
  events: number;
  /** Sum of insertEvents durations, ms (they overlap when drains run at once). */
  insertMs: number;
  /** (event at, ms since epoch when its insert returned), when `logVisible`. */
  visible: PairLog;
}

export function timedStore(inner: AuditStore, logVisible = false): TimedStore {
  const t: TimedStore = {
    inserts: 0,
    events: 0,
    insertMs: 0,
    visible: new PairLog(),
    store: {
      kind: inner.kind,
      migrate: () => inner.migrate(),
      async insertEvents(events: readonly AuditEvent[]) {
        const t0 = performance.now();
        const n = await inner.insertEvents(events);
        const now = Date.now();
        t.insertMs += performance.now() - t0;
        t.inserts++;
        t.events += events.length;
        if (logVisible) for (const e of events) t.visible.add(e.at, now);
        return n;
      },
      queryEvents: (f) => inner.queryEvents(f),
      agents: () => inner.agents(),
      totals: (at, zones) => inner.totals(at, zones),
      sessionSummaries: (a) => inner.sessionSummaries(a),
      close: () => inner.close(),
    },
  };
  return t;
}
