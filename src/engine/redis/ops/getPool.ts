import { Code, failure, notReady, unexpected } from '../../codes.js';
import { poolDirKey, poolKey, shardOf } from '../../keys.js';
import type { PoolStatus } from '../../types.js';
import { checkPoolId } from '../../validate.js';
import { recovered } from './claims.js';
import { type OpContext, type ReplyValue, text } from './context.js';

/** How many values a pool's status takes in a reply (lua/includes/pools.lua poolReply). */
export const POOL_VALUES = 17;

/** A pool's status from a reply's values from `at` (poolReply's 17), at `nowMs`. */
export function poolStatusOf(v: readonly ReplyValue[], at: number, nowMs: number): PoolStatus {
  const n = (k: number) => Number(v[at + k]);
  const parent = text(v[at + 1]);
  return {
    poolId: text(v[at]),
    parentId: parent === '' ? null : parent,
    rootId: text(v[at + 2]),
    depth: n(3),
    timeZone: text(v[at + 4]),
    day: n(5),
    month: n(6),
    dailyLimitMicros: n(7),
    dailyCostMicros: n(8),
    dailyReservedMicros: n(9),
    monthlyLimitMicros: n(10),
    monthlyCostMicros: n(11),
    monthlyReservedMicros: n(9),
    requestsPerMinute: n(12),
    tokensPerMinute: n(13),
    agents: n(14),
    children: n(15),
    createdMs: n(16),
    nowMs,
  };
}

/** A pool script's { OK, status…, nowMs } as the status. */
export function poolReplyOf(r: readonly ReplyValue[]): PoolStatus {
  return poolStatusOf(r, 1, Number(r[r.length - 1]));
}

/**
 * The root of a pool's hierarchy: remembered (a pool's root never changes),
 * else asked of the pool id's own shard (lua/findPool-1.lua); null when there
 * is no such pool. `fresh`: ask even if remembered (a remembered root met
 * POOL_NOT_FOUND: the pool was deleted, perhaps made again elsewhere).
 */
export async function findRoot(
  ctx: OpContext,
  poolId: string,
  fresh = false,
): Promise<string | null> {
  if (!fresh) {
    const known = ctx.where.rootOf(poolId);
    if (known !== undefined) return known;
  }
  const shard = shardOf(poolId, ctx.shards);
  const find = () => ctx.run('findPool', [poolDirKey(shard)], [poolId]);
  let r = await find();
  if (r[0] === Code.SHARD_NOT_READY) {
    await ctx.recover(shard);
    r = await find();
    if (r[0] === Code.SHARD_NOT_READY) throw notReady(shard);
  }
  if (r[0] === Code.POOL_NOT_FOUND) {
    ctx.where.forgetRoot(poolId);
    return null;
  }
  if (r[0] !== Code.OK) throw unexpected('findPool', r[0]);
  const root = text(r[1]);
  ctx.where.learnRoot(poolId, root);
  return root;
}

/**
 * Runs a pool script on the pool's hierarchy (`run(key)` with its hash's key),
 * found through its root; a remembered root that is stale (POOL_NOT_FOUND) is
 * asked again once. Null when there is no such pool.
 */
export async function onPool(
  ctx: OpContext,
  poolId: string,
  run: (hierarchy: string, root: string) => Promise<ReplyValue[]>,
): Promise<ReplyValue[] | null> {
  let root = await findRoot(ctx, poolId);
  for (let attempt = 0; root !== null; attempt++) {
    const hierarchy = root;
    // A hierarchy's shard that lost its data is restored first (getPool: SHARD_NOT_READY).
    const r = await recovered(ctx, shardOf(root, ctx.shards), () =>
      run(poolKey(hierarchy, ctx.shards), hierarchy),
    );
    if (r[0] !== Code.POOL_NOT_FOUND || attempt > 0) return r;
    const again = await findRoot(ctx, poolId, true);
    if (again === root) return r;
    root = again;
  }
  return null;
}

/** A pool's status in one atomic read (lua/getPool-1.lua); null when there is no such pool. */
export async function getPool(ctx: OpContext, poolId: string): Promise<PoolStatus | null> {
  checkPoolId(poolId);
  const r = await onPool(ctx, poolId, (key) => ctx.run('getPool', [key], [ctx.offsetMs, poolId]));
  if (r === null || r[0] === Code.POOL_NOT_FOUND) return null;
  if (r[0] !== Code.OK) throw failure(Number(r[0]), { op: 'getPool', agentId: '', poolId });
  return poolReplyOf(r);
}
