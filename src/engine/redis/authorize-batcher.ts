import type { Scalar } from './scripts.js';

/**
 * What the decisions of one operation share (lua/authorizeBatch-1.lua, 7
 * values: operation, model, inRate, outRate, leaseMs, actor, allowed roles).
 * Sent once per batch, however many decisions use it; callers reuse the same
 * array for the same values (the batcher matches profiles by identity).
 */
export type Profile = readonly Scalar[];

/** One decision's own values: agentId, estimate, nonce, requestId, keyDigest. */
export type DecisionArgs = readonly [Scalar, Scalar, Scalar, Scalar, Scalar];

/**
 * One decision's reply (see lua/authorizeBatch-1.lua): `[code]` or
 * `[code, resId, leaseEndMs, holdCostMicros, ...status tuple]`; the batcher
 * appends the call's time (nowMs), so the status tuple ends with it.
 */
export type DecisionReply = Scalar[];

/** Sends one batch of a shard: the script's ARGV from ARGV[4] on; resolves to its reply. */
export type SendBatch = (shard: number, args: Scalar[]) => Promise<Scalar[]>;

interface Waiter {
  resolve(reply: DecisionReply): void;
  reject(error: unknown): void;
}

interface Queue {
  profiles: Profile[];
  decisions: DecisionArgs[];
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
    this.queues = Array.from({ length: shards }, () => ({
      profiles: [],
      decisions: [],
      waiters: [],
      inFlight: 0,
    }));
  }

  /** Queues one decision; resolves to its reply. */
  submit(shard: number, profile: Profile, decision: DecisionArgs): Promise<DecisionReply> {
    const q = this.queues[shard] as Queue;
    return new Promise<DecisionReply>((resolve, reject) => {
      q.profiles.push(profile);
      q.decisions.push(decision);
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
      const waiters = q.waiters.splice(0, n);
      const args = batchArgs(q.profiles.splice(0, n), q.decisions.splice(0, n));
      q.inFlight++;
      this.send(shard, args).then(
        (replies) => {
          this.done(shard);
          const now = replies[replies.length - 1] as Scalar;
          for (let i = 0; i < waiters.length; i++) {
            const reply = replies[i];
            const w = waiters[i] as Waiter;
            if (Array.isArray(reply) && replies.length === waiters.length + 1) {
              reply.push(now);
              w.resolve(reply);
            } else {
              w.reject(
                new Error(`authorizeBatch answered ${replies.length - 1} of ${waiters.length}`),
              );
            }
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

/** ARGV from ARGV[4]: the profile count, each distinct profile once, then the decisions. */
function batchArgs(profiles: Profile[], decisions: DecisionArgs[]): Scalar[] {
  const index = new Map<Profile, number>();
  const out: Scalar[] = [0];
  for (const p of profiles) {
    if (!index.has(p)) {
      index.set(p, index.size + 1);
      for (const v of p) out.push(v);
    }
  }
  out[0] = index.size;
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i] as DecisionArgs;
    out.push(d[0], index.get(profiles[i] as Profile) as number, d[1], d[2], d[3], d[4]);
  }
  return out;
}
