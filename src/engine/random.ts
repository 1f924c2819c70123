import { randomFillSync } from 'node:crypto';

/** Char codes of the hex digits 0-f. */
const HEX = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const hexCode = (nibble: number): number => HEX[nibble & 15] as number;

/**
 * The random part of the event ids of one operation call, as two 28-bit
 * integers (14 hex digits): kept as numbers, it costs no text until an event
 * is read. `eventIdOf` turns it into the same text as `eventId` with the
 * `eventTail` of the same random bytes.
 */
export interface EventTailBits {
  readonly hi: number;
  readonly lo: number;
}

/**
 * Randomness for nonces and event-id tails, drawn from a refilled pool so that
 * a decision costs no system call. The time part of an event id is Redis time,
 * added by the script.
 */
export class RandomPool {
  private readonly buf = Buffer.alloc(4096);
  private pos = this.buf.length;

  /** Reserves `n` bytes of the pool; returns the offset of the first. */
  private take(n: number): number {
    if (this.pos + n > this.buf.length) {
      randomFillSync(this.buf);
      this.pos = 0;
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private seq = 0;

  /**
   * 16 hex characters: a 24-bit per-instance sequence, then 40 random bits.
   * Holds made in the same millisecond sort (lease index: score, then member)
   * in the order this instance made them, so "the oldest open hold" is exact.
   * Built as one flat string (it is hashed as a map key at once).
   */
  nonce(): string {
    this.seq = (this.seq + 1) & 0xffffff;
    const s = this.seq;
    const b = this.buf;
    const o = this.take(5);
    const b0 = b[o] as number;
    const b1 = b[o + 1] as number;
    const b2 = b[o + 2] as number;
    const b3 = b[o + 3] as number;
    const b4 = b[o + 4] as number;
    return String.fromCharCode(
      hexCode(s >>> 20),
      hexCode(s >>> 16),
      hexCode(s >>> 12),
      hexCode(s >>> 8),
      hexCode(s >>> 4),
      hexCode(s),
      hexCode(b0 >>> 4),
      hexCode(b0),
      hexCode(b1 >>> 4),
      hexCode(b1),
      hexCode(b2 >>> 4),
      hexCode(b2),
      hexCode(b3 >>> 4),
      hexCode(b3),
      hexCode(b4 >>> 4),
      hexCode(b4),
    );
  }

  /** The random tail of a UUIDv7: `-7xxx-yxxx-xxxxxxxxxxxx` (version and variant set). */
  eventTail(): string {
    return eventTailOf(this.buf.subarray(this.take(9)));
  }

  /** The same randomness as `eventTail` (the bytes it keeps), as numbers: see `eventIdOf`. */
  eventTailBits(): EventTailBits {
    return tailBitsOf(this.buf, this.take(7));
  }
}

/** `eventTail` of these random bytes (the first 9 are used). */
export function eventTailOf(bytes: Uint8Array): string {
  const h = Buffer.from(bytes.buffer, bytes.byteOffset, 9).toString('hex');
  const variant = (8 + (Number.parseInt(h.charAt(3), 16) & 3)).toString(16);
  return `-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(6, 18)}`;
}

/**
 * The 14 hex digits of `bytes[at..at+7]` that an event id keeps of
 * `eventTailOf(bytes[at..])` (the last 4 of its 18 are replaced by `n`).
 */
export function tailBitsOf(bytes: Uint8Array, at: number): EventTailBits {
  const b3 = bytes[at + 3] as number;
  return {
    hi:
      ((bytes[at] as number) << 20) |
      ((bytes[at + 1] as number) << 12) |
      ((bytes[at + 2] as number) << 4) |
      (b3 >>> 4),
    lo:
      ((b3 & 15) << 24) |
      ((bytes[at + 4] as number) << 16) |
      ((bytes[at + 5] as number) << 8) |
      (bytes[at + 6] as number),
  };
}

/**
 * Builds a UUIDv7 from a time in ms and a tail, as lua/includes/events.lua
 * does: the tail's last 4 hex digits are replaced by `n`, the event's number
 * within one operation call (0, 1, …; 4 hex digits).
 */
export function eventId(ms: number, tail: string, n: number): string {
  return `${timeHex(ms)}${tail.slice(0, -4)}${n.toString(16).padStart(4, '0')}`;
}

/** `eventId(ms, eventTailOf(bytes), n)` for `t = tailBitsOf(bytes, 0)`. */
export function eventIdOf(ms: number, t: EventTailBits, n: number): string {
  const h = t.hi.toString(16).padStart(7, '0') + t.lo.toString(16).padStart(7, '0');
  const variant = (8 + (Number.parseInt(h.charAt(3), 16) & 3)).toString(16);
  return `${timeHex(ms)}-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(6, 14)}${n.toString(16).padStart(4, '0')}`;
}

/** The time part of a UUIDv7: `tttttttt-tttt`. */
function timeHex(ms: number): string {
  const hi = Math.floor(ms / 65536)
    .toString(16)
    .padStart(8, '0');
  const lo = (ms % 65536).toString(16).padStart(4, '0');
  return `${hi}-${lo}`;
}
