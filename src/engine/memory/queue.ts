/**
 * A FIFO of (time, item) pairs for the records that Redis would expire by
 * itself (PEXPIRE, EXPIREAT, SET PX). Times are pushed in (nearly) ascending
 * order, so the due ones are at the head; `drain` hands at most `max` of them
 * to `drop` per call, so the clean-up work of one operation is bounded.
 * Reads never rely on it: every lookup checks the record's own expiry time.
 */
export class ExpiryQueue<T> {
  private at: number[] = [];
  private items: (T | undefined)[] = [];
  private head = 0;

  push(at: number, item: T): void {
    this.at.push(at);
    this.items.push(item);
  }

  get size(): number {
    return this.at.length - this.head;
  }

  /** Hands up to `max` items whose time is before `real` to `drop`, oldest first. */
  drain(real: number, max: number, drop: (item: T) => void): void {
    let h = this.head;
    const end = Math.min(this.at.length, h + max);
    while (h < end && (this.at[h] as number) < real) {
      const item = this.items[h] as T;
      this.items[h] = undefined;
      h++;
      drop(item);
    }
    this.head = h;
    if (h >= 1024 && h * 2 >= this.at.length) {
      this.at = this.at.slice(h);
      this.items = this.items.slice(h);
      this.head = 0;
    }
  }
}
