import { authorizeReplyLength } from '../codes.js';
import type { ScriptProfile } from '../profile.js';
import type { ReplyValue } from './ops/context.js';
import type { Scalar } from './scripts.js';
import { ShardQueue, splitFlat } from './shard-queue.js';

/**
 * One decision's own values (lua/authorize-1.lua): agentId, estimate, nonce,
 * requestId, keyDigest, holdCost ('' = priced by the profile).
 */
export type DecisionArgs = readonly [Scalar, Scalar, Scalar, Scalar, Scalar, Scalar];

/**
 * One decision's reply (see lua/authorize-1.lua): `[code]`,
 * `[code, state, holdCostMicros]`, `[REPLAYED_DENIAL, state, code, …]`,
 * `[SHADOW, state, holdCostMicros, deniedCode, poolId]` or
 * `[REPLAYED, state, holdCostMicros, nonce, leaseEndMs, resState]`, cut from
 * the script's flat reply; the batcher appends the call's time (nowMs).
 */
export type DecisionReply = ReplyValue[];

/** Runs one authorize call of a shard (ARGV from ARGV[4]); resolves to its flat reply. */
export type RunDecisions = (shard: number, args: Scalar[]) => Promise<ReplyValue[]>;

/**
 * A decision queued: the profile (what the decisions of one operation share,
 * lua/authorize-1.lua's 9 values, src/engine/profile.ts; sent once per batch,
 * matched by its key text) and the decision's own values.
 */
interface Queued {
  profile: ScriptProfile;
  decision: DecisionArgs;
}

/**
 * The script's flat reply, `[d1…, d2…, …, nowMs]`, split into one array per
 * decision with nowMs appended to each; null if it does not hold exactly
 * `count` decisions (any number when `count` is not given).
 */
export function splitReplies<T>(flat: readonly T[], count?: number): T[][] | null {
  return splitFlat(flat, authorizeReplyLength, count);
}

/**
 * Coalesces the authorize decisions of one shard that arrive together into one
 * call of lua/authorize-1.lua (src/engine/redis/shard-queue.ts; docs/engine.md,
 * coalesced authorize): each decision is still atomic and sees the ones
 * before it, but Redis pays the call, the clock read and the XADD once per
 * batch, and Node one command instead of many.
 */
export class AuthorizeBatcher {
  private readonly queue: ShardQueue<Queued, DecisionReply>;

  constructor(shards: number, run: RunDecisions, maxBatch?: number, maxInFlight?: number) {
    this.queue = new ShardQueue(
      shards,
      async (shard, items) => {
        const flat = await run(shard, batchArgs(items));
        const replies = splitReplies(flat, items.length);
        if (replies === null)
          throw new Error(`authorize answered ${flat.length} values, unreadable`);
        return replies;
      },
      maxBatch,
      maxInFlight,
    );
  }

  /** Queues one decision of `shard`; resolves to its reply. */
  submit(shard: number, profile: ScriptProfile, decision: DecisionArgs): Promise<DecisionReply> {
    return this.queue.submit(shard, { profile, decision });
  }
}

/**
 * ARGV from ARGV[4]: the profile count, each distinct profile once (equal
 * keys: one profile), then the decisions.
 */
function batchArgs(items: readonly Queued[]): Scalar[] {
  const index = new Map<string, number>();
  const numbers: number[] = [];
  const out: Scalar[] = [0];
  for (const { profile } of items) {
    let k = index.get(profile.key);
    if (k === undefined) {
      k = index.size + 1;
      index.set(profile.key, k);
      for (const v of profile.args) out.push(v);
    }
    numbers.push(k);
  }
  out[0] = index.size;
  for (let i = 0; i < items.length; i++) {
    const d = (items[i] as Queued).decision;
    out.push(d[0], numbers[i] as number, d[1], d[2], d[3], d[4], d[5]);
  }
  return out;
}
