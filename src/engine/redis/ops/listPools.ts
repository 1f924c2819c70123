import { poolsIndexKey } from '../../keys.js';
import type { PoolStatus } from '../../types.js';
import type { OpContext, ReplyValue } from './context.js';
import { POOL_VALUES, poolStatusOf } from './getPool.js';

/** Every pool with its status, all shards read in parallel (lua/listPools-1.lua), sorted by pool id. */
export async function listPools(ctx: OpContext): Promise<PoolStatus[]> {
  const shards = Array.from({ length: ctx.shards }, (_, s) => s);
  const replies = await Promise.all(
    shards.map((s) => ctx.run('listPools', [poolsIndexKey(s)], [ctx.offsetMs])),
  );
  const out: PoolStatus[] = [];
  for (const r of replies as ReplyValue[][]) {
    const now = Number(r[0]);
    for (let j = 1; j + POOL_VALUES <= r.length; j += POOL_VALUES) {
      out.push(poolStatusOf(r, j, now));
    }
  }
  return out.sort((a, b) => a.poolId.localeCompare(b.poolId));
}
