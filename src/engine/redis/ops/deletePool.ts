import { Code, failure } from '../../codes.js';
import { outboxKey, poolDirKey, shardOf } from '../../keys.js';
import type { Actor, PoolStatus } from '../../types.js';
import { checkPoolId } from '../../validate.js';
import type { OpContext } from './context.js';
import { onPool, poolReplyOf } from './getPool.js';

/**
 * Removes an empty pool (lua/deletePool-2.lua; else CONFLICT pool_not_empty,
 * nothing written); answers its last status. When its id's own shard is not
 * its root's, its directory entry there goes next (lua/unclaimPool-1.lua;
 * until then the pool is simply not found).
 */
export async function deletePool(
  ctx: OpContext,
  poolId: string,
  actor: Actor,
): Promise<PoolStatus> {
  checkPoolId(poolId);
  const nonce = ctx.rnd.nonce();
  let root = '';
  const r = await onPool(ctx, poolId, (key, at) => {
    root = at;
    return ctx.run(
      'deletePool',
      [key, outboxKey(shardOf(at, ctx.shards))],
      [ctx.offsetMs, ctx.rnd.eventTail(), actor, poolId, nonce],
    );
  });
  const subject = { op: 'deletePool' as const, agentId: '', poolId };
  if (r === null) throw failure(Code.POOL_NOT_FOUND, subject);
  if (r[0] === Code.POOL_NOT_EMPTY) {
    throw failure(Code.POOL_NOT_EMPTY, { ...subject, agents: Number(r[1]), pools: Number(r[2]) });
  }
  if (r[0] !== Code.OK) throw failure(Number(r[0]), subject);
  const home = shardOf(poolId, ctx.shards);
  if (home !== shardOf(root, ctx.shards)) {
    await ctx.run('unclaimPool', [poolDirKey(home)], [poolId, root]);
  }
  ctx.where.forgetRoot(poolId);
  return poolReplyOf(r);
}
