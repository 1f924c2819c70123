import { Code, failure } from '../../codes.js';
import { outboxKey, shardOf } from '../../keys.js';
import { agentZone } from '../../periods.js';
import type { PoolStatus, PoolUpdateInput } from '../../types.js';
import { checkPoolUpdate } from '../../validate.js';
import type { OpContext } from './context.js';
import { onPool, poolReplyOf } from './getPool.js';

/** PoolUpdateInput's fields and their names in lua/updatePool-2.lua (ARGV pairs). */
const FIELDS = {
  dailyLimitMicros: 'd_limit',
  monthlyLimitMicros: 'm_limit',
  requestsPerMinute: 'rpm',
  tokensPerMinute: 'tpm',
} as const;

/**
 * A pool's limits and zone (lua/updatePool-2.lua); setting what is set
 * changes nothing and writes no event.
 */
export async function updatePool(ctx: OpContext, i: PoolUpdateInput): Promise<PoolStatus> {
  checkPoolUpdate(i);
  const pairs: (string | number)[] = [];
  for (const [name, field] of Object.entries(FIELDS)) {
    const v = i.set[name as keyof typeof FIELDS];
    if (v !== undefined) pairs.push(field, v);
  }
  if (i.set.timeZone !== undefined) {
    pairs.push('zone', agentZone(i.set.timeZone, Date.now() + Number(ctx.offsetMs)).text);
  }
  const subject = { op: 'updatePool' as const, agentId: '', poolId: i.poolId };
  const r = await onPool(ctx, i.poolId, (key, root) =>
    ctx.run(
      'updatePool',
      [key, outboxKey(shardOf(root, ctx.shards))],
      [ctx.offsetMs, ctx.rnd.eventTail(), i.actor, i.poolId, ...pairs],
    ),
  );
  if (r === null) throw failure(Code.POOL_NOT_FOUND, subject);
  if (r[0] !== Code.OK) throw failure(Number(r[0]), subject);
  return poolReplyOf(r);
}
