import type { Scalar } from './scripts.js';

/** Arguments per decision of lua/authorizeBatch-1.lua (ARGV[j] … ARGV[j+11]). */
export const ARGS_PER_DECISION = 12;

/** One decision's reply (see lua/authorizeBatch-1.lua). */
export type DecisionReply = Scalar[];

/** Sends one batch of a shard: the flat per-decision arguments; resolves to one reply per decision. */
export type SendBatch = (shard: number, args: Scalar[]) => Promise<DecisionReply[]>;

interface Waiter {
  resolve(reply: DecisionReply): void;
  reject(error: unknown): void;
}

interface Queue {
  args: Scalar[];
  waiters: Waiter[];
  /** Batches of this shard sent and not yet answered. */
  inFlight: number;
}

/**
 * Coalesces the authorize decisions of one shard that arrive together into one
 * script call (lua/authorizeBatch-1.lua): each decision is still atomic and
 * sees the ones before it, but Redis pays the call, the clock read and the
 * XADD once per batch, and Node one command instead of many.
 *
 * A decision waits at most until the current burst of JavaScript is done
 * (`process.nextTick`): nothing is delayed by a timer. While a shard has
 * `maxInFlight` batches on the way, new decisions gather and go together when
 * one returns. A batch holds at most `maxBatch` decisions, which bounds how
 * long one script call runs.
 */
export class AuthorizeBatcher {
  private readonly queues: Queue[];
  private readonly ready: number[] = [];
  private scheduled = false;

  constructor(
    shards: number,
    private readonly send: SendBatch,
    private readonly maxBatch = 128,
    private readonly maxInFlight = 2,
  ) {
    this.queues = Array.from({ length: shards }, () => ({ args: [], waiters: [], inFlight: 0 }));
  }

  /** Queues one decision's 12 arguments; resolves to its reply. */
  submit(shard: number, args: readonly Scalar[]): Promise<DecisionReply> {
    const q = this.queues[shard] as Queue;
    return new Promise<DecisionReply>((resolve, reject) => {
      for (const a of args) q.args.push(a);
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
    const q = this.queues[shard] as Queue;
    while (q.waiters.length > 0 && q.inFlight < this.maxInFlight) {
      const n = Math.min(q.waiters.length, this.maxBatch);
      const waiters = n === q.waiters.length ? q.waiters : q.waiters.slice(0, n);
      const args = n === q.waiters.length ? q.args : q.args.slice(0, n * ARGS_PER_DECISION);
      if (waiters === q.waiters) {
        q.waiters = [];
        q.args = [];
      } else {
        q.waiters = q.waiters.slice(n);
        q.args = q.args.slice(n * ARGS_PER_DECISION);
      }
      q.inFlight++;
      this.send(shard, args).then(
        (replies) => {
          this.done(shard);
          for (let i = 0; i < waiters.length; i++) {
            const reply = replies[i];
            const w = waiters[i] as Waiter;
            if (Array.isArray(reply)) w.resolve(reply);
            else
              w.reject(new Error(`authorizeBatch answered ${replies.length} of ${waiters.length}`));
          }
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
    const q = this.queues[shard] as Queue;
    q.inFlight--;
    if (q.waiters.length > 0) this.drain(shard);
  }
}
