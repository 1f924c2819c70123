import type { AlertThresholds } from '../alerts.js';
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

/** One queued settle: its values and the alert thresholds it carries. */
interface SettleItem {
  args: SettleArgs;
  alerts: AlertThresholds;
  /** SettleInput.onSending: called just before its call is written. */
  onSending: (() => void) | undefined;
}

/**
 * Runs one settle call of a shard: `alerts` gives ARGV[4] and ARGV[5], `args`
 * (from ARGV[6]) the settles' values; resolves to its flat reply.
 */
export type RunSettles = (
  shard: number,
  alerts: AlertThresholds,
  args: Scalar[],
) => Promise<ReplyValue[]>;

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
 * and the outbox XADD once per batch. The alert thresholds are the call's:
 * settles that carry other ones (around a policy change) go in a call of
 * their own, after the ones before them, in order.
 */
export class SettleBatcher {
  private readonly queue: ShardQueue<SettleItem, SettleReply>;

  constructor(shards: number, run: RunSettles, maxBatch?: number, maxInFlight?: number) {
    this.queue = new ShardQueue(
      shards,
      async (shard, items) => {
        const out: SettleReply[] = [];
        for (let from = 0; from < items.length; ) {
          const alerts = (items[from] as SettleItem).alerts;
          let to = from + 1;
          while (to < items.length && (items[to] as SettleItem).alerts.text === alerts.text) to++;
          const part = from === 0 && to === items.length ? items : items.slice(from, to);
          const args = part.flatMap((i) => i.args);
          for (const i of part) i.onSending?.();
          out.push(...splitSettles(await run(shard, alerts, args), part.length));
          from = to;
        }
        return out;
      },
      maxBatch,
      maxInFlight,
    );
  }

  /**
   * Queues one settle of `shard` with its alert thresholds; resolves to its
   * reply. `onSending` is called just before its call is sent (run is
   * called), in the same run of JavaScript.
   */
  submit(
    shard: number,
    args: SettleArgs,
    alerts: AlertThresholds,
    onSending?: () => void,
  ): Promise<SettleReply> {
    return this.queue.submit(shard, { args, alerts, onSending });
  }
}
