/**
 * Calendar periods (the local day and month) in an IANA time zone, derived
 * from an instant and the zone's offsets. lua/includes/period.lua does the
 * same for the scripts; the two give the same answers for the same text
 * (test/engine/periods-lua.test.ts).
 *
 * Node computes, once per agent (when it is registered or its zone changes),
 * where the zone's UTC offset changes over a span of years
 * (`zoneTransitions`, with Intl.DateTimeFormat) and stores that list with the
 * agent as one short text (`encodeZone`). A script picks the offset in force at
 * Redis TIME from that list (`periodAt`): the clock is still only Redis's, and
 * the period is decided in the same atomic step that uses it. docs/limits.md,
 * "Periods in a time zone".
 *
 * Definitions, for an instant t with offset off(t) (ms; local = t + off(t)):
 * - the local date of t is the civil date of floor((t + off(t)) / 1 day);
 * - the current day is the run of instants around `now` whose local date is
 *   that of `now`: it starts at the first instant of the run (`dayStartMs`) and
 *   ends at the first later instant whose local date differs (`nextDayMs`).
 *   A midnight that DST skips is no problem: the day ends where the next one's
 *   first instant is (e.g. 01:00 local). A day is 23 h, 24 h or 25 h (23.5 h or
 *   24.5 h in Australia/Lord_Howe) long.
 * - the month likewise, with the local month instead of the local date.
 */
import { TollgateError } from '../errors.js';
import { DAY_MS } from './clock.js';

/**
 * A zone's UTC offsets: `offsets[i]` (ms, local minus UTC) is in force from
 * `starts[i]` (ms since the epoch, inclusive) to `starts[i + 1]` (exclusive).
 * `starts[0]` is -Infinity; the last offset holds for ever.
 */
export interface ZoneTransitions {
  readonly zone: string;
  readonly starts: readonly number[];
  readonly offsets: readonly number[];
}

/** The local day and month of an instant, and their bounds (ms since the epoch, UTC). */
export interface Period {
  /** yyyymmdd of the local date, e.g. 20261025. */
  day: number;
  /** yyyymm of the local month, e.g. 202610. */
  month: number;
  /** The first instant of the local day (its midnight, or the first instant after a skipped one). */
  dayStartMs: number;
  /** The first instant of the next local day: the day's resets_at. */
  nextDayMs: number;
  monthStartMs: number;
  nextMonthMs: number;
  /** The offset in force at the instant (ms, local minus UTC). */
  offsetMs: number;
}

/** UTC: one zero offset. Also what an agent without a zone uses. */
export const UTC_ZONE: ZoneTransitions = { zone: 'UTC', starts: [-Infinity], offsets: [0] };

/** The span a stored list covers around the time it is written (ms before, ms after). */
export const ZONE_SPAN_BEFORE_MS = 366 * DAY_MS;
export const ZONE_SPAN_AFTER_MS = 10 * 366 * DAY_MS;

/**
 * The longest encoded text accepted. A zone with two changes a year has 22 to
 * 24 entries over the span: Europe/Berlin 505 characters, America/New_York
 * 554; the longest of Intl's 418 zones (ICU 78.2, tz 2025c) is 568
 * (America/North_Dakota/New_Salem). A zone without changes is its name and
 * one offset (`Asia/Kolkata|19800000`, 21).
 */
export const MAX_ZONE_TEXT = 1024;

const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/;
/** Offsets beyond ±18 h do not exist (the widest today: +14 h, -12 h). */
const MAX_OFFSET_MS = 18 * 3_600_000;
/**
 * Sampling step when looking for changes: one day. Two changes that cancel
 * out inside one step would be missed; over 2025-2036 the closest two changes
 * of any of Intl's zones are 35 days apart (Africa/Casablanca's Ramadan).
 */
const STEP_S = 86_400;

function invalid(message: string, details?: Record<string, unknown>): TollgateError {
  return new TollgateError('VALIDATION_FAILED', message, details);
}

/** Intl's formatter for the zone; throws VALIDATION_FAILED for a zone Intl does not know. */
function formatterFor(zone: string): Intl.DateTimeFormat {
  if (!ZONE_NAME.test(zone)) throw invalid(`not an IANA time zone name: ${zone}`, { zone });
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
  } catch {
    throw invalid(`unknown time zone: ${zone}`, { zone });
  }
}

/** Whether Intl knows the zone (an IANA name such as Europe/Berlin, or UTC). */
export function isTimeZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The offset (ms) in force at second `s` since the epoch. */
function offsetAt(f: Intl.DateTimeFormat, s: number): number {
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(s * 1000)) p[part.type] = part.value;
  let year = Number(p.year);
  if (p.era === 'BC' || p.era === 'B') year = 1 - year;
  const local = new Date(0);
  local.setUTCFullYear(year, Number(p.month) - 1, Number(p.day));
  local.setUTCHours(Number(p.hour), Number(p.minute), Number(p.second), 0);
  return local.getTime() - s * 1000;
}

/**
 * The zone's offsets from `fromMs` to `toMs`: the offset in force at `fromMs`,
 * then each instant in (fromMs, toMs] where it changes (to the second, as
 * Intl resolves them). The zone's name is kept as given, with its case
 * corrected when Intl spells it the same but for case ('utc' -> 'UTC'; Intl's
 * own canonical name can differ, e.g. Asia/Calcutta for Asia/Kolkata).
 * Throws VALIDATION_FAILED for a zone Intl does not know or a bad span.
 */
export function zoneTransitions(zone: string, fromMs: number, toMs: number): ZoneTransitions {
  const f = formatterFor(zone);
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || fromMs > toMs) {
    throw invalid('bad span for zone transitions', { fromMs, toMs });
  }
  const resolved = f.resolvedOptions().timeZone;
  const name = resolved.toLowerCase() === zone.toLowerCase() ? resolved : zone;
  const starts = [-Infinity];
  const offsets = [offsetAt(f, Math.floor(fromMs / 1000))];
  let lo = Math.floor(fromMs / 1000);
  const end = Math.floor(toMs / 1000);
  let current = offsets[0] as number;
  while (lo < end) {
    let hi = Math.min(lo + STEP_S, end);
    if (offsetAt(f, hi) === current) {
      lo = hi;
      continue;
    }
    // offset(lo) is current, offset(hi) is not: find the first second that differs.
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (offsetAt(f, mid) === current) lo = mid;
      else hi = mid;
    }
    current = offsetAt(f, hi);
    starts.push(hi * 1000);
    offsets.push(current);
    lo = hi;
  }
  return { zone: name, starts, offsets };
}

/**
 * The list for an agent written at `nowMs` (Node's clock: it only chooses the
 * span): from a year before to ten years after. Remembered per zone and UTC
 * day, so registering many agents computes each zone once a day.
 */
export function zoneTextAt(zone: string, nowMs: number): string {
  const day = Math.floor(nowMs / DAY_MS);
  const key = `${zone} ${day}`;
  let text = textMemo.get(key);
  if (text === undefined) {
    const from = day * DAY_MS;
    text = encodeZone(zoneTransitions(zone, from - ZONE_SPAN_BEFORE_MS, from + ZONE_SPAN_AFTER_MS));
    if (textMemo.size >= 256) textMemo.clear();
    textMemo.set(key, text);
  }
  return text;
}
const textMemo = new Map<string, string>();

/**
 * An agent's zone as stored: its name (as the text spells it) and its text
 * (zoneTextAt), for `zone` at `nowMs`; absent: UTC. Throws VALIDATION_FAILED
 * for a zone Intl does not know.
 */
export function agentZone(zone: string | undefined, nowMs: number): { name: string; text: string } {
  const text = zoneTextAt(zone ?? 'UTC', nowMs);
  return { name: text.slice(0, text.indexOf('|')), text };
}

/**
 * `zone|offset0|start1:offset1|start2:offset2|…` (ms, integers), e.g.
 * `Europe/Berlin|3600000|1774746000000:7200000|1792890000000:3600000`.
 */
export function encodeZone(t: ZoneTransitions): string {
  let text = `${t.zone}|${t.offsets[0]}`;
  for (let i = 1; i < t.starts.length; i++) text += `|${t.starts[i]}:${t.offsets[i]}`;
  if (text.length > MAX_ZONE_TEXT) {
    throw invalid(`zone text longer than ${MAX_ZONE_TEXT} characters`, { zone: t.zone });
  }
  return text;
}

const INT = /^-?\d{1,16}$/;

function offsetOf(text: string): number {
  const n = Number(text);
  if (!INT.test(text) || Math.abs(n) > MAX_OFFSET_MS) throw invalid(`bad zone offset: ${text}`);
  return n;
}

/** The inverse of `encodeZone`; throws VALIDATION_FAILED for a malformed text. */
export function decodeZone(text: string): ZoneTransitions {
  if (text.length > MAX_ZONE_TEXT) throw invalid('zone text too long');
  const parts = text.split('|');
  const zone = parts[0] as string;
  if (parts.length < 2 || !ZONE_NAME.test(zone)) throw invalid(`bad zone text: ${text}`);
  const starts = [-Infinity];
  const offsets = [offsetOf(parts[1] as string)];
  for (let i = 2; i < parts.length; i++) {
    const [at, off, extra] = (parts[i] as string).split(':');
    const start = Number(at);
    if (extra !== undefined || off === undefined || !INT.test(at as string)) {
      throw invalid(`bad zone transition: ${parts[i]}`);
    }
    if (start <= (starts[starts.length - 1] as number))
      throw invalid('zone transitions out of order');
    starts.push(start);
    offsets.push(offsetOf(off));
  }
  return { zone, starts, offsets };
}

/** yyyymmdd of day number `d` (days since 1970-01-01). */
function civil(d: number): number {
  const x = new Date(d * DAY_MS);
  return x.getUTCFullYear() * 10000 + (x.getUTCMonth() + 1) * 100 + x.getUTCDate();
}

/**
 * The run of instants around the instant (in segment `i`) whose local time is
 * in [lo, hi) (local ms): its first instant and the first instant after it.
 */
function run(i: number, t: ZoneTransitions, lo: number, hi: number): [number, number] {
  const { starts, offsets } = t;
  const n = starts.length;
  let end = 0;
  for (let j = i; ; j++) {
    const off = offsets[j] as number;
    const segEnd = j + 1 < n ? (starts[j + 1] as number) : Infinity;
    if (hi - off < segEnd) {
      end = hi - off;
      break;
    }
    const local = segEnd + (offsets[j + 1] as number);
    if (local < lo || local >= hi) {
      end = segEnd;
      break;
    }
  }
  let start = 0;
  for (let j = i; ; j--) {
    const off = offsets[j] as number;
    const segStart = starts[j] as number;
    if (lo - off > segStart) {
      start = lo - off;
      break;
    }
    const local = segStart - 1 + (offsets[j - 1] as number);
    if (local < lo || local >= hi) {
      start = segStart;
      break;
    }
  }
  return [start, end];
}

/** The local day and month of `nowMs` in the zone, and their bounds. `nowMs` is an integer. */
export function periodAt(nowMs: number, t: ZoneTransitions): Period {
  const { starts, offsets } = t;
  let i = 0;
  while (i + 1 < starts.length && (starts[i + 1] as number) <= nowMs) i++;
  const offsetMs = offsets[i] as number;
  const d = Math.floor((nowMs + offsetMs) / DAY_MS);
  const day = civil(d);
  const y = Math.floor(day / 10000);
  const m = Math.floor(day / 100) % 100;
  const [dayStartMs, nextDayMs] = run(i, t, d * DAY_MS, (d + 1) * DAY_MS);
  const [monthStartMs, nextMonthMs] = run(i, t, Date.UTC(y, m - 1, 1), Date.UTC(y, m, 1));
  return { day, month: y * 100 + m, dayStartMs, nextDayMs, monthStartMs, nextMonthMs, offsetMs };
}
