import { Code, failure } from '../../codes.js';
import { dirKey } from '../../keys.js';
import type { Actor, EngineStatus } from '../../types.js';
import { checkAgentId } from '../../validate.js';
import type { OpContext } from './context.js';
import { located } from './locate.js';

/**
 * Removes an agent with its holds and records (lua/deleteAgent-4.lua);
 * answers its last status. Run twice with the call's nonce, it answers the same.
 * An agent that lived away from its home shard (in a pool) then loses its
 * home directory entry (lua/pointAgent-1.lua; until then, it answers not found).
 */
export async function deleteAgent(
  ctx: OpContext,
  agentId: string,
  actor: Actor,
): Promise<EngineStatus> {
  checkAgentId(agentId);
  const args = [ctx.offsetMs, agentId, ctx.rnd.eventTail(), actor, ctx.rnd.nonce()];
  let at = -1;
  const r = await located(ctx, agentId, (shard) => {
    at = shard;
    const k = ctx.keys.at(agentId, shard);
    return ctx.runAgent('deleteAgent', [k.agent, k.index, k.leases, k.outbox], args);
  });
  if (r[0] !== Code.OK) throw failure(Number(r[0]), { op: 'deleteAgent', agentId });
  const home = ctx.keys.get(agentId).shard;
  if (at !== home) {
    await ctx.run('pointAgent', [dirKey(home)], [ctx.offsetMs, agentId, at, '']);
    ctx.where.forget(agentId);
  }
  return ctx.status(agentId, r[2], r[3]);
}
