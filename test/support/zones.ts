/**
 * Zones and instants shared by test/engine/periods.test.ts (TypeScript) and
 * test/engine/periods-lua.test.ts (the same answers from the Lua include).
 */
import { DAY_MS } from '../../src/engine/clock.js';
import {
  decodeZone,
  periodAt,
  type ZoneTransitions,
  zoneTextAt,
} from '../../src/engine/periods.js';

/** When the zones' lists are written: their span is 2025-01-01 .. 2036-01-02 (about). */
export const WRITTEN_AT = Date.UTC(2026, 0, 1);

export const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'Australia/Lord_Howe',
  'America/Santiago',
  'America/Havana',
  'Asia/Beirut',
] as const;

export const zoneText = (zone: string): string => zoneTextAt(zone, WRITTEN_AT);
export const zone = (name: string): ZoneTransitions => decodeZone(zoneText(name));

/**
 * A made-up zone whose clocks go back an hour at 00:30 local on 2026-01-10:
 * its local date goes 10th, 9th, 10th (no real zone does this in the span).
 */
export const BACKWARD_AT = Date.UTC(2026, 0, 10, 0, 30);
export const BACKWARD_TEXT = `Etc/Backward|0|${BACKWARD_AT}:-3600000`;

/** mulberry32: a seeded generator, so a failure names instants that can be rerun. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Instants worth checking for a zone: `count` random ones from 2024 to 2038
 * (past both ends of the span), each change ±1 ms, ±1 h and ±1 day, and
 * the bounds of the days and months of a tenth of the random instants and of
 * the instants around each change, and 1 ms before each.
 */
export function instantsFor(t: ZoneTransitions, count: number, seed: number): number[] {
  const rnd = seeded(seed);
  const from = Date.UTC(2024, 0, 1);
  const to = Date.UTC(2038, 0, 1);
  const out: number[] = [];
  const withBounds = (at: number) => {
    out.push(at);
    const p = periodAt(at, t);
    for (const b of [p.dayStartMs, p.nextDayMs, p.monthStartMs, p.nextMonthMs]) out.push(b - 1, b);
  };
  for (let i = 0; i < count; i++) {
    const at = from + Math.floor(rnd() * (to - from));
    if (i % 10 === 0) withBounds(at);
    else out.push(at);
  }
  for (const s of t.starts.slice(1)) {
    for (const at of [s - 3_600_000, s - 1, s, s + 1, s + 3_600_000, s - DAY_MS, s + DAY_MS]) {
      withBounds(at);
    }
  }
  return out;
}
