import { Code, failure, notReady } from '../../codes.js';
import { poolKey, shardOf } from '../../keys.js';
import type { OpContext, ReplyValue } from './context.js';

/**
 * Ids claimed across shards (docs/engine.md, "Where an agent lives"): an agent
 * or pool created away from its id's own shard is claimed there first
 * (lua/claimAgent-2.lua, lua/claimPool-1.lua), then created; a creation
 * refuses a claim older than 30 s (STALE_CLAIM). A claim whose agent or pool
 * is not where it says may be another process's creation in progress: it is
 * taken over only once it is older than TAKEOVER_MS by the clock of the shard
 * it names (the same clock that refuses creating under it past 30 s), so a
 * late creation can never follow a takeover.
 */
export const TAKEOVER_MS = 45_000;

/** `run` on `shard`, restoring the shard first if it answers SHARD_NOT_READY (nothing written). */
export async function recovered(
  ctx: OpContext,
  shard: number,
  run: () => Promise<ReplyValue[]>,
): Promise<ReplyValue[]> {
  const r = await run();
  if (r[0] !== Code.SHARD_NOT_READY) return r;
  await ctx.recover(shard);
  const again = await run();
  if (again[0] === Code.SHARD_NOT_READY) throw notReady(shard);
  return again;
}

/**
 * A pool id's directory entry names another root (`entry`: '<root>:<ms>'): the
 * pool is there (CONFLICT pool_exists), or the entry is a claim that was never
 * completed, old enough to replace (answered, to pass as `replace`), or too
 * young (CONFLICT pool_exists: a creation may be on its way).
 */
export async function claimedElsewhere(
  ctx: OpContext,
  poolId: string,
  entry: string,
): Promise<string> {
  const [other = '', at = '0'] = entry.split(':');
  const r = await recovered(ctx, shardOf(other, ctx.shards), () =>
    ctx.run('getPool', [poolKey(other, ctx.shards)], [ctx.offsetMs, poolId]),
  );
  if (r[0] === Code.POOL_NOT_FOUND && Number(r[1]) - Number(at) > TAKEOVER_MS) return entry;
  throw failure(Code.POOL_EXISTS, { op: 'createPool', agentId: '', poolId });
}
