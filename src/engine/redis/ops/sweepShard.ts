import { indexKey, outboxKey } from '../../keys.js';
import type { SweepResult } from '../../types.js';
import { checkShard } from '../../validate.js';
import { carryLeftHolds } from './closeLeftHold.js';
import { type OpContext, text } from './context.js';

/** Agents one sweep step visits (the SSCAN COUNT hint). */
const SWEEP_COUNT = 100;

/**
 * One bounded step of the background sweep of a shard (lua/sweepShard-2.lua):
 * frees the expired holds of the agents one SSCAN step returns, and the pool
 * parts left on the shard by holds that moved away whose lease passed. Call again
 * with the returned cursor until it is '0'.
 */
export async function sweepShard(
  ctx: OpContext,
  shard: number,
  cursor: string,
): Promise<SweepResult> {
  checkShard(shard, ctx.shards);
  // Each pass starts by carrying what a lost step left (ops/closeLeftHold.ts).
  if (cursor === '0') await carryLeftHolds(ctx, shard);
  const [next, agents, freed] = await ctx.run(
    'sweepShard',
    [indexKey(shard), outboxKey(shard)],
    [ctx.offsetMs, cursor, SWEEP_COUNT, ctx.maxFree, ctx.rnd.eventTail()],
  );
  return { cursor: text(next), agents: Number(agents), freed: Number(freed) };
}
