import { type AlertThresholds, NO_ALERTS } from '../../alerts.js';
import { Code, unexpected } from '../../codes.js';
import { carryKey, outboxKey, shardOf } from '../../keys.js';
import { storeErrors } from '../store-errors.js';
import type { OpContext } from './context.js';

/**
 * A hold that moved to another shard with its agent keeps its pool part on
 * its pools' shard (lua/includes/left.lua). Its settle or release on the
 * agent's shard `at` notes the close there (tg:{s<n>}:carry) and answers the
 * pools' root; this carries the close to the root's shard
 * (lua/closeLeftHold-1.lua: the pools freed, charged and corrected there, once
 * however often it runs), then forgets the note. A process that dies between
 * the two steps leaves the note, which the sweep of `at` carries
 * (`carryLeftHolds`), and a settle or release sent again answers the root
 * again while the note is there, so the close happens exactly once either way.
 * `used` is '' for a release.
 */
export async function closeLeftHold(
  ctx: OpContext,
  at: number,
  root: string,
  resId: string,
  used: number | '',
  costMicros: number,
  alerts: AlertThresholds = NO_ALERTS,
): Promise<void> {
  const shard = shardOf(root, ctx.shards);
  // A hierarchy deleted on `at` itself: nothing is left anywhere to close.
  if (shard !== at) {
    const r = await ctx.run(
      'closeLeftHold',
      [outboxKey(shard)],
      [ctx.offsetMs, ctx.rnd.eventTail(), alerts.min, alerts.text, resId, used, costMicros],
    );
    if (r[0] !== Code.OK) throw unexpected('closeLeftHold', r[0]);
  }
  await storeErrors(ctx.client.hdel(carryKey(at), resId));
}

/** Notes one sweep step carries at most. */
const CARRY_STEP = 100;

/**
 * The sweep's part (src/engine/redis/ops/sweepShard.ts): carries the closes
 * noted on `shard` that a lost step left (at most CARRY_STEP per call, the
 * next sweep takes the rest). Answers how many it carried.
 */
export async function carryLeftHolds(ctx: OpContext, shard: number): Promise<number> {
  const [, flat] = await storeErrors(ctx.client.hscan(carryKey(shard), '0', 'COUNT', CARRY_STEP));
  let n = 0;
  for (let j = 0; j + 1 < flat.length && n < CARRY_STEP; j += 2) {
    const [root = '', used = '', cost = '0'] = (flat[j + 1] as string).split('\u001f');
    const resId = flat[j] as string;
    await closeLeftHold(ctx, shard, root, resId, used === '' ? '' : Number(used), Number(cost));
    n++;
  }
  return n;
}
