/**
 * Reading one value in place from an event's text, for the fast parser
 * (src/audit/event-fast.ts): the schema's checks and conversions
 * (src/audit/event.ts), without making a substring where the value is plain.
 */

/** Not a value: the fast path gives up and the schema decides. */
export const BAD = -1.5;
const POW10 = Array.from({ length: 16 }, (_, k) => 10 ** k);
/** Plain digits up to this many are read in place (exact in a double). */
const MAX_DIGITS = 15;

const code = (c: string): number => c.charCodeAt(0);
const ZERO = code('0');
const ONE = code('1');
const DOT = code('.');
const DASH = code('-');
const UUID_VERSION_7 = code('7');
/** Marks the ASCII characters of `chars` in a table indexed by char code. */
function asciiTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const c of chars) table[code(c)] = 1;
  return table;
}
/** Lower-case hex digits (0-9, a-f). */
const LOWER_HEX = asciiTable('0123456789abcdef');
/** The UUID variant digits the schema accepts. */
const UUID_VARIANT = asciiTable('89ab');

/** optInt of a text: '' → null, a safe integer, else BAD. */
function fastInt(v: string): number | null {
  if (v === '') return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : BAD;
}
/** optNum of a text: '' → null, a finite number, else BAD. */
function fastNum(v: string): number | null {
  if (v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : BAD;
}

/** A UUID's text: 8-4-4-4-12 hex digits; the dashes' positions; where its version and variant digits are. */
const UUID_LENGTH = 36;
const UUID_DASH = new Uint8Array(UUID_LENGTH);
for (const at of [8, 13, 18, 23]) UUID_DASH[at] = 1;
const UUID_VERSION_AT = 14;
const UUID_VARIANT_AT = 19;

/** The schema's event_id pattern (a lower-case UUIDv7: 8-4-4-4-12, version 7, variant 8-b), without a regular expression. */
export function isEventId(v: string): boolean {
  if (v.length !== UUID_LENGTH) return false;
  for (let i = 0; i < UUID_LENGTH; i++) {
    const c = v.charCodeAt(i);
    if (UUID_DASH[i] === 1) {
      if (c !== DASH) return false;
    } else if (c >= 128 || LOWER_HEX[c] !== 1) {
      return false;
    }
  }
  return (
    v.charCodeAt(UUID_VERSION_AT) === UUID_VERSION_7 &&
    UUID_VARIANT[v.charCodeAt(UUID_VARIANT_AT)] === 1
  );
}

/** fastInt of text[s, e) (absent: null), reading plain digits without making a string. */
export function intAt(t: string, s: number, e: number): number | null {
  if (s < 0 || s === e) return null;
  if (e - s <= MAX_DIGITS) {
    let n = 0;
    for (let i = s; i < e; i++) {
      const d = t.charCodeAt(i) - ZERO;
      if (d < 0 || d > 9) return fastInt(t.slice(s, e));
      n = n * 10 + d;
    }
    return n;
  }
  return fastInt(t.slice(s, e));
}

/**
 * fastNum of text[s, e) (absent: null): `digits[.digits]` with at most 15
 * digits is read directly (n / 10^k, both exact, so the quotient rounds to the
 * same double as Number() reading the decimal); anything else goes to Number().
 */
export function numAt(t: string, s: number, e: number): number | null {
  if (s < 0 || s === e) return null;
  let n = 0;
  let digits = 0;
  let dot = -1;
  for (let i = s; i < e; i++) {
    const c = t.charCodeAt(i);
    if (c === DOT && dot < 0) {
      dot = i;
      continue;
    }
    const d = c - ZERO;
    if (d < 0 || d > 9) return fastNum(t.slice(s, e));
    n = n * 10 + d;
    digits++;
  }
  if (digits === 0 || digits > MAX_DIGITS) return fastNum(t.slice(s, e));
  return dot < 0 ? n : n / (POW10[e - dot - 1] as number);
}

/** optBool of text[s, e) (absent: null): '1' → true, '0' → false, anything else null. */
export function boolAt(t: string, s: number, e: number): boolean | null {
  if (s < 0 || e - s !== 1) return null;
  const c = t.charCodeAt(s);
  return c === ONE ? true : c === ZERO ? false : null;
}
