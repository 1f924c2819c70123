/**
 * Sends one batch of a shard's items; resolves to one reply per item, in the
 * items' order (a reply of another length rejects every item of the batch).
 */
export type SendBatch<I, R> = (shard: number, items: I[]) => Promise<R[]>;

interface Waiter<R> {
  resolve(reply: R): void;
  reject(error: unknown): void;
}

interface Queue<I, R> {
  items: I[];
  waiters: Waiter<R>[];
  /** Batches of this shard sent and not yet answered. */
  inFlight: number;
}

/**
 * Coalesces the items of one shard that arrive together into one send (one
 * script call, whose keys share the shard's hash tag): Redis pays the call,
 * the clock read and the outbox XADD once per batch, and Node one command
 * instead of many (docs/engine.md, coalesced authorize and settle).
 *
 * An item waits at most until the current burst of JavaScript is done
 * (`process.nextTick`): nothing is delayed by a timer. While a shard has
 * `maxInFlight` batches on the way, new items gather and go together when one
 * returns. A batch holds at most `maxBatch` items, which bounds how long one
 * script call runs.
 */
export class ShardQueue<I, R> {
  private readonly queues: Queue<I, R>[];
  private readonly ready: number[] = [];
  private scheduled = false;

  constructor(
    shards: number,
    private readonly send: SendBatch<I, R>,
    private readonly maxBatch = 128,
    private readonly maxInFlight = 2,
  ) {
    this.queues = Array.from({ length: shards }, () => ({ items: [], waiters: [], inFlight: 0 }));
  }

  /** Queues one item of `shard`; resolves to its reply. */
  submit(shard: number, item: I): Promise<R> {
    const q = this.queues[shard] as Queue<I, R>;
    return new Promise<R>((resolve, reject) => {
      q.items.push(item);
      if (q.waiters.push({ resolve, reject }) === 1) this.ready.push(shard);
      if (!this.scheduled) {
        this.scheduled = true;
        process.nextTick(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const shards = this.ready.splice(0);
    for (const shard of shards) this.drain(shard);
  };

  /** Sends what the shard has queued, as far as its in-flight allowance goes. */
  private drain(shard: number): void {
    const q = this.queues[shard] as Queue<I, R>;
    while (q.waiters.length > 0 && q.inFlight < this.maxInFlight) {
      const n = Math.min(q.waiters.length, this.maxBatch);
      const waiters = q.waiters.splice(0, n);
      const items = q.items.splice(0, n);
      q.inFlight++;
      let sent: Promise<R[]>;
      try {
        sent = this.send(shard, items);
      } catch (error) {
        sent = Promise.reject(error);
      }
      sent.then(
        (replies) => {
          this.done(shard);
          if (replies.length !== n) {
            const error = new Error(`a batch of ${n} answered ${replies.length} replies`);
            for (const w of waiters) w.reject(error);
            return;
          }
          for (let i = 0; i < n; i++) (waiters[i] as Waiter<R>).resolve(replies[i] as R);
        },
        (error: unknown) => {
          this.done(shard);
          for (const w of waiters) w.reject(error);
        },
      );
    }
    // What is left waits for an answer (done → drain).
  }

  private done(shard: number): void {
    const q = this.queues[shard] as Queue<I, R>;
    q.inFlight--;
    if (q.waiters.length > 0) this.drain(shard);
  }
}

/**
 * A batch script's flat reply, `[r1…, r2…, …, nowMs]`, split into one array
 * per item with nowMs appended to each; `lengthOf` reads an item's reply
 * length from its first value (its code, src/engine/codes.ts). Null unless it
 * holds exactly `count` items (any number when `count` is not given).
 */
export function splitFlat<T>(
  flat: readonly T[],
  lengthOf: (code: T) => number,
  count?: number,
): T[][] | null {
  const end = flat.length - 1;
  if (end < 0) return null;
  const now = flat[end] as T;
  const out: T[][] = [];
  let p = 0;
  while (p < end) {
    const n = lengthOf(flat[p] as T);
    if (n <= 0 || p + n > end) return null;
    const item = flat.slice(p, p + n + 1);
    item[n] = now;
    out.push(item);
    p += n;
  }
  return count === undefined || out.length === count ? out : null;
}
