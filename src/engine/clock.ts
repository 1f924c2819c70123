/**
 * The UTC day arithmetic shared by the TypeScript side (the scripts do the same
 * in lua/includes/clock.lua). Time itself always comes from Redis (or, for
 * MemoryEngine, from the process clock plus the same test-only offset).
 */
export const DAY_MS = 86_400_000;

/** yyyymmdd of the UTC day of `ms`, as an integer. */
export function dayOf(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

export function nextMidnight(ms: number): number {
  return (Math.floor(ms / DAY_MS) + 1) * DAY_MS;
}

/** The last UTC day formatted (a pure one-entry memo: every decision of a day asks for the same text). */
let memoDay = Number.NaN;
let memoIso = '';
let memoNext = '';

function memo(ms: number): void {
  const day = Math.floor(ms / DAY_MS);
  if (day !== memoDay) {
    memoIso = new Date(day * DAY_MS).toISOString().slice(0, 10);
    memoNext = new Date((day + 1) * DAY_MS).toISOString();
    memoDay = day;
  }
}

/** `2026-11-24` for the UTC day of `ms`. */
export function isoDay(ms: number): string {
  memo(ms);
  return memoIso;
}

/** The next UTC midnight after `ms` as ISO text (`2026-11-25T00:00:00.000Z`). */
export function nextMidnightIso(ms: number): string {
  memo(ms);
  return memoNext;
}

/**
 * `new Date(ms).toISOString()`, remembering the last time formatted: the
 * decisions of one millisecond share their lease end, so most calls are a
 * comparison. One per owner (no shared state).
 */
export class IsoTimeMemo {
  private ms = Number.NaN;
  private text = '';

  iso(ms: number): string {
    if (ms !== this.ms) {
      this.text = new Date(ms).toISOString();
      this.ms = ms;
    }
    return this.text;
  }
}
