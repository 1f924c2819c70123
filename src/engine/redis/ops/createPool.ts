import { Code, failure } from '../../codes.js';
import { outboxKey, poolDirKey, poolKey, shardOf } from '../../keys.js';
import { agentZone } from '../../periods.js';
import type { PoolInput, PoolStatus } from '../../types.js';
import { checkPool } from '../../validate.js';
import { claimedElsewhere, recovered } from './claims.js';
import { type OpContext, text } from './context.js';
import { findRoot, poolReplyOf } from './getPool.js';

/**
 * A new pool (lua/createPool-2.lua) in its root's hierarchy, on the root's
 * shard. Its id is unique across shards: the pool id's own shard names its
 * root in its pool directory. When that shard is another one, the id is
 * claimed there first (lua/claimPool-1.lua: directory entry first, then the
 * pool; a create sent again completes one that a crash cut short). The same
 * create again answers the pool; other settings under the id: CONFLICT.
 */
export async function createPool(ctx: OpContext, i: PoolInput): Promise<PoolStatus> {
  checkPool(i);
  const poolId = i.poolId;
  const zone = agentZone(i.timeZone, Date.now() + Number(ctx.offsetMs));
  const subject = { op: 'createPool' as const, agentId: '', poolId };
  let root = poolId;
  if (i.parentId !== undefined) {
    const parentRoot = await findRoot(ctx, i.parentId);
    if (parentRoot === null) throw failure(Code.POOL_NOT_FOUND, { ...subject, poolId: i.parentId });
    root = parentRoot;
  }
  const home = shardOf(poolId, ctx.shards);
  let claimTime: number | '' = '';
  let replace = '';
  let refound = false;
  for (let attempt = 0; attempt < 6; attempt++) {
    const at = shardOf(root, ctx.shards);
    if (home !== at && claimTime === '') {
      const c = await recovered(ctx, home, () =>
        ctx.run('claimPool', [poolDirKey(home)], [ctx.offsetMs, poolId, root, replace]),
      );
      if (c[0] === Code.ELSEWHERE) {
        replace = await claimedElsewhere(ctx, poolId, text(c[1]));
        continue;
      }
      if (c[0] !== Code.OK) throw failure(Number(c[0]), subject);
      claimTime = Number(c[1]);
    }
    const r = await recovered(ctx, at, () =>
      ctx.run(
        'createPool',
        [poolKey(root, ctx.shards), outboxKey(at)],
        [
          ctx.offsetMs,
          ctx.rnd.eventTail(),
          i.actor,
          poolId,
          i.parentId ?? '',
          i.dailyLimitMicros ?? 0,
          i.monthlyLimitMicros ?? 0,
          i.requestsPerMinute ?? 0,
          i.tokensPerMinute ?? 0,
          zone.text,
          home === at ? replace : '',
          claimTime,
        ],
      ),
    );
    const code = r[0];
    if (code === Code.OK) {
      ctx.where.learnRoot(poolId, root);
      return poolReplyOf(r);
    }
    if (code === Code.STALE_CLAIM) {
      claimTime = '';
      continue;
    }
    if (code === Code.ELSEWHERE) {
      replace = await claimedElsewhere(ctx, poolId, text(r[1]));
      continue;
    }
    if (code === Code.POOL_NOT_FOUND && i.parentId !== undefined && !refound) {
      // The parent's remembered root may be stale: ask again, once.
      refound = true;
      const again = await findRoot(ctx, i.parentId, true);
      if (again !== null && again !== root) {
        root = again;
        claimTime = '';
        continue;
      }
    }
    if (code === Code.POOL_NOT_FOUND) {
      throw failure(Number(code), { ...subject, poolId: i.parentId ?? poolId });
    }
    throw failure(Number(code), subject);
  }
  throw failure(Code.POOL_EXISTS, subject);
}
