import { Code, failure } from '../../codes.js';
import type { Actor, EngineStatus } from '../../types.js';
import { checkAgentId } from '../../validate.js';
import type { OpContext } from './context.js';

/**
 * Removes an agent with its holds and records (lua/deleteAgent-4.lua);
 * answers its last status. Run twice with the call's nonce, it answers the same.
 */
export async function deleteAgent(
  ctx: OpContext,
  agentId: string,
  actor: Actor,
): Promise<EngineStatus> {
  checkAgentId(agentId);
  const k = ctx.keys.get(agentId);
  const r = await ctx.runAgent(
    'deleteAgent',
    [k.agent, k.index, k.leases, k.outbox],
    [ctx.offsetMs, agentId, ctx.rnd.eventTail(), actor, ctx.rnd.nonce()],
  );
  if (r[0] !== Code.OK) throw failure(Number(r[0]), { op: 'deleteAgent', agentId });
  return ctx.status(agentId, r[2], r[3]);
}
