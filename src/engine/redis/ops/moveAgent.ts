import { TollgateError } from '../../../errors.js';
import { Code, failure } from '../../codes.js';
import { shardOf } from '../../keys.js';
import type { Actor, AgentSnapshot } from '../../types.js';
import { checkAgentId, checkPoolId } from '../../validate.js';
import { type OpContext, type ReplyValue, text } from './context.js';
import { findRoot } from './getPool.js';
import { relocation } from './locate.js';
import { completeMove, freeze, frozenOf, readMove, settleMove } from './move-steps.js';
import { snapshotOf } from './registerAgent.js';

/**
 * Puts the agent in `poolId` (null: in no pool). An agent lives on its pool
 * hierarchy's shard (its home shard in none). When its new place is on the
 * shard it lives on, the move is one atomic script (lua/moveAgent-2.lua).
 * Else it is the steps of ops/move-steps.ts: its open holds go with it and
 * those made under pools of the shard it leaves keep their pool part there
 * (ops/closeLeftHold.ts). Either way its open holds stay charged to the pools
 * they were made under and settle there.
 */
export async function moveAgent(
  ctx: OpContext,
  agentId: string,
  poolId: string | null,
  actor: Actor,
): Promise<AgentSnapshot> {
  checkAgentId(agentId);
  if (poolId !== null) checkPoolId(poolId);
  const home = ctx.keys.get(agentId).shard;
  const subject = { op: 'moveAgent' as const, agentId, poolId: poolId ?? undefined };
  let root = '';
  let target = home;
  let refound = false;
  const resolve = async (fresh: boolean) => {
    if (poolId === null) return;
    const r = await findRoot(ctx, poolId, fresh);
    if (r === null) throw failure(Code.POOL_NOT_FOUND, subject);
    root = r;
    target = shardOf(root, ctx.shards);
  };
  await resolve(false);
  const tail = ctx.rnd.eventTail();
  let shard = ctx.where.shardOf(agentId) ?? home;
  let cached = shard !== home;
  for (let hop = 0; hop < 8; hop++) {
    let r: ReplyValue[];
    if (shard === target) {
      const k = ctx.keys.at(agentId, shard);
      r = await ctx.runAgent(
        'moveAgent',
        [k.agent, k.outbox],
        [ctx.offsetMs, tail, actor, agentId, poolId ?? '', root],
      );
    } else {
      const nonce = ctx.rnd.nonce();
      r = await freeze(ctx, agentId, shard, `${nonce}|${target}|${poolId ?? ''}|${root}|${actor}`);
      const frozen = frozenOf(r);
      if (frozen !== undefined) {
        const copied = await completeMove(ctx, agentId, shard, frozen);
        if (readMove(frozen.move).nonce !== nonce) {
          // Another move left half done, completed: now this one, from where it went.
          shard = ctx.where.shardOf(agentId) ?? home;
          cached = false;
          continue;
        }
        return snapshotOfCopy(ctx, agentId, frozen.fields, copied);
      }
    }
    const code = r[0];
    if (code === Code.OK) return snapshotOf(ctx, agentId, r);
    if (code === Code.POOL_NOT_FOUND && !refound) {
      refound = true;
      await resolve(true);
      continue;
    }
    const next = relocation(ctx, agentId, home, cached, r);
    cached = false;
    if (next === undefined) throw failure(Number(code), subject);
    if (next < 0) {
      await settleMove(ctx, agentId, shard);
      shard = home;
    } else {
      shard = next;
    }
  }
  throw new TollgateError('STORE_UNAVAILABLE', `Agent ${agentId} could not be located`, {
    agent_id: agentId,
  });
}

/** The snapshot of an agent copied to its new shard: its state there, its creation and metadata. */
function snapshotOfCopy(
  ctx: OpContext,
  agentId: string,
  fields: ReplyValue[],
  copied: ReplyValue[],
): AgentSnapshot {
  let created = 0;
  let meta = '{}';
  for (let j = 0; j + 1 < fields.length; j += 2) {
    const name = text(fields[j]);
    if (name === 'created') created = Number(text(fields[j + 1]));
    else if (name === 'meta') meta = text(fields[j + 1]);
  }
  return {
    status: ctx.status(agentId, copied[1], copied[2]),
    createdMs: created,
    metadata: meta,
    replayed: false,
  };
}
