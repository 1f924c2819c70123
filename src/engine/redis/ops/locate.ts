import { TollgateError } from '../../../errors.js';
import { Code } from '../../codes.js';
import type { AgentKeys } from '../../keys.js';
import type { Scalar, ScriptName } from '../scripts.js';
import type { OpContext, ReplyValue } from './context.js';
import { settleMove } from './move-steps.js';

/**
 * Where an agent's call goes (docs/engine.md, "Where an agent lives"). A plain
 * agent lives on its home shard, shardOf(agentId), and its calls go there as
 * they always did. An agent in a pool lives on its hierarchy's shard; its home
 * shard's directory says which. So a call goes to the shard this engine last
 * saw the agent on (ctx.where), else home, and the script's answer says what
 * to do, having written nothing: ELSEWHERE (the home directory names the
 * shard: remembered, called there), AGENT_NOT_FOUND where a remembered shard
 * was used (it moved or was deleted: forgotten, called again from home, once),
 * MOVING (being moved between shards: the move is completed, then the call is
 * made again from home).
 */

/** How many times a call may be sent on before it gives up (each hop wrote nothing). */
const MAX_HOPS = 6;

/**
 * Makes `attempt` on the agent's shard until it is answered there. `attempt`
 * sends the call to a shard and answers its reply (code first; ELSEWHERE's
 * second value the shard).
 */
export async function located(
  ctx: OpContext,
  agentId: string,
  attempt: (shard: number) => Promise<ReplyValue[]>,
): Promise<ReplyValue[]> {
  const home = ctx.keys.get(agentId).shard;
  const shard = ctx.where.shardOf(agentId) ?? home;
  return follow(ctx, agentId, shard, shard !== home, await attempt(shard), attempt);
}

/**
 * Whether a reply of a call sent to `cached` (true: a shard ctx.where
 * remembered) is not the answer (follow it). One comparison on the usual path.
 */
export function misplaced(r: ReplyValue[], cached: boolean): boolean {
  const code = r[0];
  return (
    code === Code.ELSEWHERE || code === Code.MOVING || (cached && code === Code.AGENT_NOT_FOUND)
  );
}

/**
 * Follows the reply `r` of a call sent to `shard` (`cached`: ctx.where's) to
 * the agent's shard: makes `attempt` there and answers its reply.
 */
export async function follow(
  ctx: OpContext,
  agentId: string,
  shard: number,
  cached: boolean,
  r: ReplyValue[],
  attempt: (shard: number) => Promise<ReplyValue[]>,
): Promise<ReplyValue[]> {
  const home = ctx.keys.get(agentId).shard;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const next = relocation(ctx, agentId, home, cached, r);
    if (next === undefined) return r;
    cached = false;
    if (next < 0) {
      await settleMove(ctx, agentId, shard);
      shard = home;
    } else {
      shard = next;
    }
    r = await attempt(shard);
  }
  throw new TollgateError('STORE_UNAVAILABLE', `Agent ${agentId} could not be located`, {
    agent_id: agentId,
  });
}

/**
 * Where a reply sends the call next: undefined (it is the answer), a shard, or
 * -1 (MOVING: complete the move on this shard, then home). `cached`: the call
 * went where ctx.where said (not found there: it moved or was deleted, ask
 * home). Updates ctx.where.
 */
export function relocation(
  ctx: OpContext,
  agentId: string,
  home: number,
  cached: boolean,
  r: ReplyValue[],
): number | undefined {
  const code = r[0];
  if (code === Code.ELSEWHERE) {
    const to = Number(r[1]);
    ctx.where.learn(agentId, to, home);
    return to;
  }
  if (code === Code.AGENT_NOT_FOUND && cached) {
    ctx.where.forget(agentId);
    return home;
  }
  if (code === Code.MOVING) {
    ctx.where.forget(agentId);
    return -1;
  }
  return undefined;
}

/**
 * One agent script on the agent's shard (`keysOf` its keys there), with shard
 * recovery (ctx.runAgent) and the moves above.
 */
export async function runLocated(
  ctx: OpContext,
  agentId: string,
  name: ScriptName,
  keysOf: (k: AgentKeys) => readonly string[],
  args: readonly Scalar[],
): Promise<ReplyValue[]> {
  return (await runLocatedAt(ctx, agentId, name, keysOf, args)).reply;
}

/** runLocated, with the shard that answered (where the agent lives). */
export async function runLocatedAt(
  ctx: OpContext,
  agentId: string,
  name: ScriptName,
  keysOf: (k: AgentKeys) => readonly string[],
  args: readonly Scalar[],
): Promise<{ reply: ReplyValue[]; shard: number }> {
  let at = -1;
  const reply = await located(ctx, agentId, (shard) => {
    at = shard;
    return ctx.runAgent(name, keysOf(ctx.keys.at(agentId, shard)), args);
  });
  return { reply, shard: at };
}
