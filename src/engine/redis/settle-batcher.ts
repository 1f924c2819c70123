import { settleReplyLength } from '../codes.js';
import type { ReplyValue } from './ops/context.js';
import type { Scalar } from './scripts.js';
import { ShardQueue, splitFlat } from './shard-queue.js';

/**
 * One settle's values (lua/settle-1.lua, 13 per settle): agentId, nonce ('' =
 * by operation), operation, inputTokens, outputTokens, result, keyDigest,
 * actor, usageId, costMicros ('' = priced at the hold's rates), estimated
 * ('1' or ''), pricedAs ('' = not given), model ('' = not checked).
 */
export type SettleArgs = readonly [
  string,
  string,
  string,
  number,
  number,
  string,
  string,
  string,
  string,
  number | '',
  '1' | '',
  string,
  string,
];

/**
 * One settle's reply (see lua/settle-1.lua), cut from the script's flat
 * reply, with the call's time (nowMs) appended.
 */
export type SettleReply = ReplyValue[];

/** Runs one settle call of a shard (ARGV from ARGV[4]: the settles' values); resolves to its flat reply. */
export type RunSettles = (shard: number, args: Scalar[]) => Promise<ReplyValue[]>;

/**
 * The script's flat reply, `[s1…, s2…, …, nowMs]`, split into one array per
 * settle with nowMs appended to each; throws unless it holds exactly `count`.
 */
export function splitSettles(flat: readonly ReplyValue[], count: number): SettleReply[] {
  const out = splitFlat(flat, settleReplyLength, count);
  if (out === null) {
    throw new Error(`settle answered ${flat.length} values for ${count} settles, unreadable`);
  }
  return out;
}

/**
 * Coalesces the settles of one shard that arrive together into one call of
 * lua/settle-1.lua (docs/engine.md, coalesced settle): each settle is still
 * atomic and sees the ones before it, but Redis pays the call, the clock read
 * and the outbox XADD once per batch.
 */
export class SettleBatcher {
  private readonly queue: ShardQueue<SettleArgs, SettleReply>;

  constructor(shards: number, run: RunSettles, maxBatch?: number, maxInFlight?: number) {
    this.queue = new ShardQueue(
      shards,
      async (shard, items) => splitSettles(await run(shard, items.flat()), items.length),
      maxBatch,
      maxInFlight,
    );
  }

  /** Queues one settle of `shard`; resolves to its reply. */
  submit(shard: number, args: SettleArgs): Promise<SettleReply> {
    return this.queue.submit(shard, args);
  }
}
