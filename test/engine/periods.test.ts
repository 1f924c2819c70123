import { describe, expect, it } from 'vitest';
import { DAY_MS, dayOf, nextMidnight } from '../../src/engine/clock.js';
import {
  decodeZone,
  encodeZone,
  MAX_ZONE_TEXT,
  periodAt,
  UTC_ZONE,
  type ZoneTransitions,
  zoneTransitions,
} from '../../src/engine/periods.js';
import { isTollgateError } from '../../src/errors.js';
import {
  BACKWARD_AT,
  BACKWARD_TEXT,
  instantsFor,
  ZONES,
  zone,
  zoneText,
} from '../support/zones.js';

const H = 3_600_000;
const at = (iso: string): number => Date.parse(iso);

/**
 * The local day `yyyymmdd` runs from `start` to `end` (ISO instants, UTC):
 * checked at its first and last ms, and one ms either side.
 */
function expectDay(t: ZoneTransitions, yyyymmdd: number, start: string, end: string): void {
  const s = at(start);
  const e = at(end);
  for (const ms of [s, s + 1, e - 1]) {
    const p = periodAt(ms, t);
    expect({ ms, day: p.day, from: p.dayStartMs, to: p.nextDayMs }).toEqual({
      ms,
      day: yyyymmdd,
      from: s,
      to: e,
    });
  }
  const before = periodAt(s - 1, t);
  expect(before.day).toBeLessThan(yyyymmdd);
  expect(before.nextDayMs).toBe(s);
  const after = periodAt(e, t);
  expect(after.day).toBeGreaterThan(yyyymmdd);
  expect(after.dayStartMs).toBe(e);
}

function expectMonth(t: ZoneTransitions, yyyymm: number, start: string, end: string): void {
  const s = at(start);
  const e = at(end);
  for (const ms of [s, e - 1]) {
    const p = periodAt(ms, t);
    expect([p.month, p.monthStartMs, p.nextMonthMs]).toEqual([yyyymm, s, e]);
  }
  expect(periodAt(s - 1, t).nextMonthMs).toBe(s);
  expect(periodAt(e, t).monthStartMs).toBe(e);
}

/** The local date of `ms` in the zone as Intl formats it: the oracle. */
function intlDay(name: string, ms: number): number {
  let f = formats.get(name);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: name, dateStyle: 'short' });
    formats.set(name, f);
  }
  return Number(f.format(ms).replaceAll('-', ''));
}
const formats = new Map<string, Intl.DateTimeFormat>();

describe('zoneTransitions and the encoding', () => {
  it('UTC is one zero offset', () => {
    const t = zoneTransitions('UTC', at('2025-01-01T00:00:00Z'), at('2036-01-01T00:00:00Z'));
    expect(t).toEqual(UTC_ZONE);
    expect(encodeZone(t)).toBe('UTC|0');
    expect(zoneTransitions('utc', 0, DAY_MS).zone).toBe('UTC');
  });

  it('finds Berlin 2026 changes to the second, and the offset before the first', () => {
    const t = zoneTransitions(
      'Europe/Berlin',
      at('2026-01-01T00:00:00Z'),
      at('2027-01-01T00:00:00Z'),
    );
    expect(encodeZone(t)).toBe(
      `Europe/Berlin|${H}|${at('2026-03-29T01:00:00Z')}:${2 * H}|${at('2026-10-25T01:00:00Z')}:${H}`,
    );
  });

  it('keeps a link name as given (Intl would say Asia/Calcutta)', () => {
    expect(zoneTransitions('Asia/Kolkata', 0, DAY_MS)).toEqual({
      zone: 'Asia/Kolkata',
      starts: [-Infinity],
      offsets: [5.5 * H],
    });
  });

  it('rejects an unknown zone, a name that is no zone name, and a bad span', () => {
    for (const [name, from, to] of [
      ['Mars/Olympus_Mons', 0, DAY_MS],
      ['Europe/Berlin|0', 0, DAY_MS],
      ['', 0, DAY_MS],
      ['Europe/Berlin', DAY_MS, 0],
      ['Europe/Berlin', 0, Number.NaN],
    ] as const) {
      let error: unknown;
      try {
        zoneTransitions(name, from, to);
      } catch (e) {
        error = e;
      }
      expect(isTollgateError(error) && error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('decodes what it encodes, and refuses malformed text', () => {
    for (const name of ZONES) {
      const text = zoneText(name);
      expect(text.length).toBeLessThanOrEqual(600);
      expect(encodeZone(decodeZone(text))).toBe(text);
    }
    const bad = [
      'Europe/Berlin',
      'Europe/Berlin|x',
      'Europe/Berlin|3600000|12:',
      'Europe/Berlin|3600000|12:7200000:1',
      'Europe/Berlin|3600000|20:7200000|10:3600000',
      `Europe/Berlin|${19 * H}`,
      `UTC|0|${'1:0|'.repeat(MAX_ZONE_TEXT)}`,
      'Bad Zone|0',
    ];
    for (const text of bad) expect(() => decodeZone(text), text).toThrow();
  });

  it('past the end of the span, the last offset holds', () => {
    const t = zoneTransitions(
      'Europe/Berlin',
      at('2026-01-01T00:00:00Z'),
      at('2026-06-01T00:00:00Z'),
    );
    expect(t.offsets).toEqual([H, 2 * H]);
    // In fact winter time again: the list says summer until it is rewritten.
    expect(periodAt(at('2026-12-15T12:00:00Z'), t).offsetMs).toBe(2 * H);
  });
});

describe('periodAt', () => {
  it('UTC gives the days of src/engine/clock.ts', () => {
    for (const ms of instantsFor(UTC_ZONE, 500, 1)) {
      const p = periodAt(ms, UTC_ZONE);
      expect([p.day, p.nextDayMs, p.dayStartMs]).toEqual([
        dayOf(ms),
        nextMidnight(ms),
        nextMidnight(ms) - DAY_MS,
      ]);
    }
  });

  it('Europe/Berlin: the changes of 2026 and 2027 (23 h and 25 h days)', () => {
    const t = zone('Europe/Berlin');
    expectDay(t, 20260328, '2026-03-27T23:00:00Z', '2026-03-28T23:00:00Z');
    expectDay(t, 20260329, '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z');
    expectDay(t, 20260330, '2026-03-29T22:00:00Z', '2026-03-30T22:00:00Z');
    expectDay(t, 20261024, '2026-10-23T22:00:00Z', '2026-10-24T22:00:00Z');
    expectDay(t, 20261025, '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z');
    expectDay(t, 20261026, '2026-10-25T23:00:00Z', '2026-10-26T23:00:00Z');
    expectDay(t, 20270327, '2027-03-26T23:00:00Z', '2027-03-27T23:00:00Z');
    expectDay(t, 20270328, '2027-03-27T23:00:00Z', '2027-03-28T22:00:00Z');
    expectDay(t, 20270329, '2027-03-28T22:00:00Z', '2027-03-29T22:00:00Z');
    expectDay(t, 20271030, '2027-10-29T22:00:00Z', '2027-10-30T22:00:00Z');
    expectDay(t, 20271031, '2027-10-30T22:00:00Z', '2027-10-31T23:00:00Z');
    expectDay(t, 20271101, '2027-10-31T23:00:00Z', '2027-11-01T23:00:00Z');
    // The change itself: the offset moves, the day does not.
    const change = at('2026-03-29T01:00:00Z');
    expect(periodAt(change - 1, t)).toMatchObject({ day: 20260329, offsetMs: H });
    expect(periodAt(change, t)).toMatchObject({ day: 20260329, offsetMs: 2 * H });
    // October 2027 ends on its 25 h day.
    expectMonth(t, 202710, '2027-09-30T22:00:00Z', '2027-10-31T23:00:00Z');
    expectMonth(t, 202702, '2027-01-31T23:00:00Z', '2027-02-28T23:00:00Z');
  });

  it('America/New_York: the changes of 2026 and 2027, and the new year', () => {
    const t = zone('America/New_York');
    expectDay(t, 20260307, '2026-03-07T05:00:00Z', '2026-03-08T05:00:00Z');
    expectDay(t, 20260308, '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z');
    expectDay(t, 20260309, '2026-03-09T04:00:00Z', '2026-03-10T04:00:00Z');
    expectDay(t, 20261031, '2026-10-31T04:00:00Z', '2026-11-01T04:00:00Z');
    expectDay(t, 20261101, '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z');
    expectDay(t, 20261102, '2026-11-02T05:00:00Z', '2026-11-03T05:00:00Z');
    expectDay(t, 20270313, '2027-03-13T05:00:00Z', '2027-03-14T05:00:00Z');
    expectDay(t, 20270314, '2027-03-14T05:00:00Z', '2027-03-15T04:00:00Z');
    expectDay(t, 20270315, '2027-03-15T04:00:00Z', '2027-03-16T04:00:00Z');
    expectDay(t, 20271106, '2027-11-06T04:00:00Z', '2027-11-07T04:00:00Z');
    expectDay(t, 20271107, '2027-11-07T04:00:00Z', '2027-11-08T05:00:00Z');
    expectDay(t, 20271108, '2027-11-08T05:00:00Z', '2027-11-09T05:00:00Z');
    expectDay(t, 20270101, '2027-01-01T05:00:00Z', '2027-01-02T05:00:00Z');
    expectMonth(t, 202612, '2026-12-01T05:00:00Z', '2027-01-01T05:00:00Z');
    expectMonth(t, 202701, '2027-01-01T05:00:00Z', '2027-02-01T05:00:00Z');
    expectMonth(t, 202611, '2026-11-01T04:00:00Z', '2026-12-01T05:00:00Z');
    expectMonth(t, 202603, '2026-03-01T05:00:00Z', '2026-04-01T04:00:00Z');
  });

  it('Asia/Kolkata (+5:30), Pacific/Chatham (+12:45/+13:45), Australia/Lord_Howe (30 min DST)', () => {
    const k = zone('Asia/Kolkata');
    expect(k.starts).toHaveLength(1);
    expectDay(k, 20260615, '2026-06-14T18:30:00Z', '2026-06-15T18:30:00Z');
    expectMonth(k, 202606, '2026-05-31T18:30:00Z', '2026-06-30T18:30:00Z');
    expectMonth(k, 202701, '2026-12-31T18:30:00Z', '2027-01-31T18:30:00Z');
    const c = zone('Pacific/Chatham');
    expectDay(c, 20260405, '2026-04-04T10:15:00Z', '2026-04-05T11:15:00Z'); // 25 h
    expectDay(c, 20260927, '2026-09-26T11:15:00Z', '2026-09-27T10:15:00Z'); // 23 h
    expectMonth(c, 202604, '2026-03-31T10:15:00Z', '2026-04-30T11:15:00Z');
    const l = zone('Australia/Lord_Howe');
    expectDay(l, 20260405, '2026-04-04T13:00:00Z', '2026-04-05T13:30:00Z'); // 24.5 h
    expectDay(l, 20261004, '2026-10-03T13:30:00Z', '2026-10-04T13:00:00Z'); // 23.5 h
    expect(periodAt(at('2026-04-04T15:00:00Z') - 1, l).offsetMs).toBe(11 * H);
    expect(periodAt(at('2026-04-04T15:00:00Z'), l).offsetMs).toBe(10.5 * H);
  });

  it('skipped and repeated midnights: Santiago, Havana, Beirut', () => {
    // Santiago, 2026-09-06 and 2027-09-05: 24:00 becomes 01:00; the day starts at 01:00.
    const s = zone('America/Santiago');
    expectDay(s, 20260905, '2026-09-05T04:00:00Z', '2026-09-06T04:00:00Z');
    expectDay(s, 20260906, '2026-09-06T04:00:00Z', '2026-09-07T03:00:00Z');
    expectDay(s, 20270905, '2027-09-05T04:00:00Z', '2027-09-06T03:00:00Z');
    expect(periodAt(at('2026-09-06T04:00:00Z'), s).offsetMs).toBe(-3 * H);
    // ... and in April 24:00 becomes 23:00: the 4th has 25 h, the 5th's midnight comes once.
    expectDay(s, 20260404, '2026-04-04T03:00:00Z', '2026-04-05T04:00:00Z');
    expectDay(s, 20270403, '2027-04-03T03:00:00Z', '2027-04-04T04:00:00Z');
    // Havana: 00:00 becomes 01:00 in March; in November 01:00 becomes 00:00 (00:00 twice).
    const h = zone('America/Havana');
    expectDay(h, 20260308, '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z');
    expectDay(h, 20261101, '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z');
    expectDay(h, 20270314, '2027-03-14T05:00:00Z', '2027-03-15T04:00:00Z');
    expectDay(h, 20271107, '2027-11-07T04:00:00Z', '2027-11-08T05:00:00Z');
    // Beirut: 00:00 becomes 01:00 in March; in October 00:00 becomes 23:00.
    const b = zone('Asia/Beirut');
    expectDay(b, 20260329, '2026-03-28T22:00:00Z', '2026-03-29T21:00:00Z');
    expectDay(b, 20261024, '2026-10-23T21:00:00Z', '2026-10-24T22:00:00Z');
    expectMonth(b, 202703, '2027-02-28T22:00:00Z', '2027-03-31T21:00:00Z');
  });

  it('a local date that goes back: each run of the date is its own stretch', () => {
    const t = decodeZone(BACKWARD_TEXT);
    const midnight = Date.UTC(2026, 0, 10);
    expect(periodAt(BACKWARD_AT - 1, t)).toMatchObject({
      day: 20260110,
      dayStartMs: midnight,
      nextDayMs: BACKWARD_AT,
    });
    expect(periodAt(BACKWARD_AT, t)).toMatchObject({
      day: 20260109,
      dayStartMs: BACKWARD_AT,
      nextDayMs: midnight + 3_600_000,
      monthStartMs: Date.UTC(2026, 0, 1),
      nextMonthMs: Date.UTC(2026, 1, 1) + 3_600_000,
    });
    expect(periodAt(midnight + 3_600_000, t)).toMatchObject({
      day: 20260110,
      dayStartMs: midnight + 3_600_000,
      nextDayMs: Date.UTC(2026, 0, 11) + 3_600_000,
    });
  });

  it('agrees with Intl on the local date, and its bounds enclose the instant, for every zone', () => {
    for (const [n, name] of ZONES.entries()) {
      const t = zone(name);
      // Inside the span only: outside it the stored list, not Intl, decides.
      const span = instantsFor(t, 300, 100 + n).filter(
        (ms) => ms >= Date.UTC(2025, 0, 1) && ms < Date.UTC(2035, 0, 1),
      );
      expect(span.length).toBeGreaterThan(200);
      for (const ms of span) {
        const p = periodAt(ms, t);
        expect([ms, p.day]).toEqual([ms, intlDay(name, ms)]);
        expect(Math.floor(p.day / 100)).toBe(p.month);
        expect(p.dayStartMs <= ms && ms < p.nextDayMs).toBe(true);
        expect(p.monthStartMs <= p.dayStartMs && p.nextDayMs <= p.nextMonthMs).toBe(true);
        expect(intlDay(name, p.dayStartMs)).toBe(p.day);
        expect(intlDay(name, p.dayStartMs - 1)).not.toBe(p.day);
        expect(intlDay(name, p.nextDayMs - 1)).toBe(p.day);
        expect(intlDay(name, p.nextDayMs)).not.toBe(p.day);
        const hours = (p.nextDayMs - p.dayStartMs) / H;
        expect([23, 23.5, 24, 24.5, 25]).toContain(hours);
      }
    }
  });
});
