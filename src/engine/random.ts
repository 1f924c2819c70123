import { randomFillSync } from 'node:crypto';

/**
 * Randomness for nonces and event-id tails, drawn from a refilled pool so that
 * a decision costs no system call. The time part of an event id is Redis time,
 * added by the script.
 */
export class RandomPool {
  private readonly buf = Buffer.alloc(4096);
  private pos = this.buf.length;

  private take(n: number): Buffer {
    if (this.pos + n > this.buf.length) {
      randomFillSync(this.buf);
      this.pos = 0;
    }
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private seq = 0;

  /**
   * 16 hex characters: a 24-bit per-instance sequence, then 40 random bits.
   * Holds made in the same millisecond sort (lease index: score, then member)
   * in the order this instance made them, so "the oldest open hold" is exact.
   */
  nonce(): string {
    this.seq = (this.seq + 1) & 0xffffff;
    return this.seq.toString(16).padStart(6, '0') + this.take(5).toString('hex');
  }

  /** The random tail of a UUIDv7: `-7xxx-yxxx-xxxxxxxxxxxx` (version and variant set). */
  eventTail(): string {
    const h = this.take(9).toString('hex');
    const variant = (8 + (Number.parseInt(h.charAt(3), 16) & 3)).toString(16);
    return `-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(6, 18)}`;
  }
}

/**
 * Builds a UUIDv7 from a time in ms and a tail, as lua/includes/events.lua
 * does: the tail's last 4 hex digits are replaced by `n`, the event's number
 * within one operation call (0, 1, …; 4 hex digits).
 */
export function eventId(ms: number, tail: string, n: number): string {
  const hi = Math.floor(ms / 65536)
    .toString(16)
    .padStart(8, '0');
  const lo = (ms % 65536).toString(16).padStart(4, '0');
  return `${hi}-${lo}${tail.slice(0, -4)}${n.toString(16).padStart(4, '0')}`;
}
