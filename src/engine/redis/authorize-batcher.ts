import { authorizeReplyLength } from '../codes.js';
import type { ScriptProfile } from '../profile.js';
import type { ReplyValue } from './ops/context.js';
import type { Scalar } from './scripts.js';

/**
 * What the decisions of one operation share (lua/authorize-1.lua, 7 values:
 * src/engine/profile.ts). Sent once per batch, however many decisions use it:
 * the batcher matches profiles by their key text.
 */
type Profile = ScriptProfile;

/** One decision's own values: agentId, estimate, nonce, requestId, keyDigest. */
export type DecisionArgs = readonly [Scalar, Scalar, Scalar, Scalar, Scalar];

/**
 * One decision's reply (see lua/authorize-1.lua): `[code]`,
 * `[code, state, holdCostMicros]`, `[REPLAYED_DENIAL, state, code]` or
 * `[REPLAYED, state, holdCostMicros, nonce, leaseEndMs, resState]`, cut from
 * the script's flat reply; the batcher appends the call's time (nowMs).
 */
export type DecisionReply = ReplyValue[];

/** Sends one batch of a shard: the script's ARGV from ARGV[4] on; resolves to its reply. */
export type SendBatch = (shard: number, args: Scalar[]) => Promise<ReplyValue[]>;

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
 * script call (lua/authorize-1.lua): each decision is still atomic and
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
        (flat) => {
          this.done(shard);
          const replies = splitReplies(flat, waiters.length);
          for (let i = 0; i < waiters.length; i++) {
            const w = waiters[i] as Waiter;
            if (replies !== null) w.resolve(replies[i] as DecisionReply);
            else w.reject(new Error(`authorize answered ${flat.length} values, unreadable`));
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

/**
 * The script's flat reply, `[d1…, d2…, …, nowMs]`, split into one array per
 * decision with nowMs appended to each; null if it does not hold exactly
 * `count` decisions (any number when `count` is not given).
 */
export function splitReplies<T>(flat: readonly T[], count?: number): T[][] | null {
  const end = flat.length - 1;
  if (end < 0) return null;
  const now = flat[end] as T;
  const out: T[][] = [];
  let p = 0;
  while (p < end) {
    const n = authorizeReplyLength(flat[p]);
    if (p + n > end) return null;
    const d = flat.slice(p, p + n + 1);
    d[n] = now;
    out.push(d);
    p += n;
  }
  return count === undefined || out.length === count ? out : null;
}

/**
 * ARGV from ARGV[4]: the profile count, each distinct profile once (equal
 * keys: one profile), then the decisions.
 */
function batchArgs(profiles: Profile[], decisions: DecisionArgs[]): Scalar[] {
  const index = new Map<string, number>();
  const numbers: number[] = [];
  const out: Scalar[] = [0];
  for (const p of profiles) {
    let k = index.get(p.key);
    if (k === undefined) {
      k = index.size + 1;
      index.set(p.key, k);
      for (const v of p.args) out.push(v);
    }
    numbers.push(k);
  }
  out[0] = index.size;
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i] as DecisionArgs;
    out.push(d[0], numbers[i] as number, d[1], d[2], d[3], d[4]);
  }
  return out;
}
