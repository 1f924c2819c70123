/**
 * One-dimensional arrays in PostgreSQL's binary format (what `array_send`
 * writes and `array_recv` reads), for the insert's column arrays on `pg`: a
 * Buffer parameter goes in binary, so the server reads 16 bytes per uuid and
 * 8 per bigint instead of parsing text, and the client writes bytes instead
 * of building a quoted, escaped array literal per column (with 26 columns of
 * 1,000 values, that literal was a fifth of the drain's CPU).
 *
 * Layout: int32 ndim (1), int32 flags (1 if it holds NULLs), int32 element
 * type OID, int32 length, int32 lower bound (1), then per element an int32
 * byte length (-1 for NULL) and the element's binary form. All big-endian.
 *
 * `encodeBinaryArray` returns undefined for a value it cannot write exactly
 * as the text form would be read (a uuid not in the 8-4-4-4-12 form, a
 * number that is not an integer for an integer column, a value of the wrong
 * kind): the caller then sends the text literal, and the server accepts or
 * refuses it as it always did (the refusal, SQLSTATE 22…, is what the drain
 * dead-letters).
 */

/** Element types the insert uses, by the SQL name it casts its parameters to. */
const OIDS = {
  uuid: 2950,
  smallint: 21,
  bigint: 20,
  text: 25,
  boolean: 16,
  'double precision': 701,
  jsonb: 3802,
} as const;

export type BinaryElementType = keyof typeof OIDS;

export function isBinaryElementType(t: string): t is BinaryElementType {
  return Object.hasOwn(OIDS, t);
}

/** Hex digit value by char code (-1: not a hex digit). */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

const TWO_32 = 4294967296;

/** Big-endian int32 at `o` (faster than Buffer#writeInt32BE in the hot loop; no range check needed here). */
function int32(buf: Buffer, o: number, x: number): void {
  buf[o] = x >>> 24;
  buf[o + 1] = x >>> 16;
  buf[o + 2] = x >>> 8;
  buf[o + 3] = x;
}

/**
 * Writes `v` as UTF-8 at `o`; returns the bytes written. A short ASCII text
 * (ids, names: most values) is copied by a JS loop, cheaper than a call into
 * the native encoder; anything else goes to Buffer#write.
 */
function utf8(buf: Buffer, o: number, v: string): number {
  const n = v.length;
  if (n <= 64) {
    let i = 0;
    for (; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c > 127) break;
      buf[o + i] = c;
    }
    if (i === n) return n;
  }
  return buf.write(v, o, 'utf8');
}

/** Writes a uuid's 16 bytes at `at`; false if `s` is not 8-4-4-4-12 hex. */
function writeUuid(buf: Buffer, at: number, s: string): boolean {
  if (s.length !== 36) return false;
  let o = at;
  for (let i = 0; i < 36; ) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (s.charCodeAt(i) !== 45) return false;
      i++;
      continue;
    }
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    const hi = a < 128 ? (HEX[a] as number) : -1;
    const lo = b < 128 ? (HEX[b] as number) : -1;
    if (hi < 0 || lo < 0) return false;
    buf[o++] = (hi << 4) | lo;
    i += 2;
  }
  return true;
}

/** The bytes of one element of a fixed-width type (its data, without the length word). */
const WIDTH = { uuid: 16, smallint: 2, bigint: 8, 'double precision': 8, boolean: 1 } as const;

/** The array header: one dimension of `n` elements from 1. */
function header(buf: Buffer, type: BinaryElementType, n: number, hasNull: number): void {
  int32(buf, 0, 1); // ndim
  int32(buf, 4, hasNull);
  int32(buf, 8, OIDS[type]);
  int32(buf, 12, n);
  int32(buf, 16, 1); // lower bound
}

/** A text (or jsonb: a version byte first) array: the common case, in a loop of its own. */
function encodeTextArray(type: 'text' | 'jsonb', values: readonly unknown[]): Buffer | undefined {
  const n = values.length;
  const extra = type === 'jsonb' ? 1 : 0;
  // A UTF-16 unit is at most 3 UTF-8 bytes; plus jsonb's version byte.
  let size = 20 + 4 * n;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v === 'string') size += 3 * v.length + extra;
    else if (v !== null && v !== undefined) return undefined;
  }
  const buf = Buffer.allocUnsafe(size);
  let hasNull = 0;
  let o = 20;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'string') {
      int32(buf, o, -1);
      o += 4;
      hasNull = 1;
      continue;
    }
    const start = o + 4;
    let p = start;
    if (extra === 1) buf[p++] = 1; // jsonb binary format version
    p += utf8(buf, p, v);
    int32(buf, o, p - start);
    o = p;
  }
  header(buf, type, n, hasNull);
  return buf.subarray(0, o);
}

/** `values` as a binary array of `type`, or undefined (then send it as text). */
export function encodeBinaryArray(
  type: BinaryElementType,
  values: readonly unknown[],
): Buffer | undefined {
  if (type === 'text' || type === 'jsonb') return encodeTextArray(type, values);
  const n = values.length;
  const buf = Buffer.allocUnsafe(20 + (4 + WIDTH[type]) * n);
  let hasNull = 0;
  let o = 20;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      int32(buf, o, -1);
      o += 4;
      hasNull = 1;
      continue;
    }
    const lenAt = o;
    o += 4;
    switch (type) {
      case 'uuid':
        if (typeof v !== 'string' || !writeUuid(buf, o, v)) return undefined;
        o += 16;
        break;
      case 'smallint':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -32768 || v > 32767) {
          return undefined;
        }
        buf.writeInt16BE(v, o);
        o += 2;
        break;
      case 'bigint': {
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) return undefined;
        const hi = Math.floor(v / TWO_32);
        int32(buf, o, hi);
        int32(buf, o + 4, v - hi * TWO_32);
        o += 8;
        break;
      }
      case 'double precision':
        if (typeof v !== 'number') return undefined;
        buf.writeDoubleBE(v, o);
        o += 8;
        break;
      case 'boolean':
        if (typeof v !== 'boolean') return undefined;
        buf[o++] = v ? 1 : 0;
        break;
      default:
        return undefined; // text and jsonb: encodeTextArray
    }
    int32(buf, lenAt, o - lenAt - 4);
  }
  header(buf, type, n, hasNull);
  return buf.subarray(0, o);
}
