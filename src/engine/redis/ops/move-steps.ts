import { Code, failure, unexpected } from '../../codes.js';
import { dirKey } from '../../keys.js';
import { type OpContext, type ReplyValue, text } from './context.js';

/**
 * The steps of a move to a pool whose hierarchy is on another shard
 * (docs/engine.md, "Moves across shards"), each one atomic script and safe to
 * run again, so that any process can complete a move that another one left
 * half done (it meets MOVING):
 *
 * 1. freeze on the old shard (lua/freezeAgent-3.lua): the pool parts of its
 *    open holds made under that shard's pools stay there (lua/includes/left.lua);
 *    its hash is renamed <agent>:frozen and every call for it answers MOVING;
 * 2. copy to the new shard (lua/copyAgent-3.lua), in the new pool;
 * 3. point the home shard's directory at the new shard (lua/pointAgent-1.lua;
 *    on the home shard itself, step 2 removed the entry);
 * 4. drop the frozen agent on the old shard (lua/dropAgent-2.lua).
 *
 * If step 2 finds the new pool gone, the freeze is undone
 * (lua/thawAgent-1.lua) and the move fails with NOT_FOUND.
 */

/** A frozen agent as freezeAgent-3 answers it: the move noted, its hash and its leases. */
export interface Frozen {
  /** 'nonce|shard|poolId|root|actor|fromPoolId' */
  move: string;
  fields: ReplyValue[];
  leases: ReplyValue[];
}

/** The move noted on a frozen agent, read. */
export interface MoveNote {
  nonce: string;
  shard: number;
  poolId: string;
  root: string;
  actor: string;
  from: string;
}

export function readMove(move: string): MoveNote {
  const [nonce = '', shard = '', poolId = '', root = '', actor = '', from = ''] = move.split('|');
  return { nonce, shard: Number(shard), poolId, root, actor, from };
}

/** freezeAgent-3 on `shard` (`move` '': only answer a frozen agent). */
export function freeze(
  ctx: OpContext,
  agentId: string,
  shard: number,
  move: string,
): Promise<ReplyValue[]> {
  const k = ctx.keys.at(agentId, shard);
  return ctx.runAgent(
    'freezeAgent',
    [k.agent, k.leases, k.outbox],
    [ctx.offsetMs, ctx.rnd.eventTail(), agentId, move, ctx.maxFree],
  );
}

/** A freeze's answer with its content, or undefined when nothing is frozen. */
export function frozenOf(r: ReplyValue[]): Frozen | undefined {
  if (r[0] !== Code.OK || r.length < 5) return undefined;
  return {
    move: text(r[1]),
    fields: r[2] as ReplyValue[],
    leases: r[3] as ReplyValue[],
  };
}

/**
 * Steps 2 to 4 of a frozen agent's move from `from`: answers copyAgent-3's
 * reply ({ OK, state, nowMs }). Throws NOT_FOUND (the pool, its freeze
 * undone) or CONFLICT.
 */
export async function completeMove(
  ctx: OpContext,
  agentId: string,
  from: number,
  frozen: Frozen,
): Promise<ReplyValue[]> {
  const note = readMove(frozen.move);
  const home = ctx.keys.get(agentId).shard;
  const to = ctx.keys.at(agentId, note.shard);
  const copied = await ctx.runAgent(
    'copyAgent',
    [to.agent, to.index, to.outbox],
    [
      ctx.offsetMs,
      ctx.rnd.eventTail(),
      agentId,
      frozen.move,
      home,
      frozen.fields.length,
      ...(frozen.fields as (string | number)[]),
      ...(frozen.leases as (string | number)[]),
    ],
  );
  const old = ctx.keys.at(agentId, from);
  if (copied[0] === Code.POOL_NOT_FOUND) {
    await ctx.run('thawAgent', [old.agent], [agentId, note.nonce]);
    ctx.where.forgetRoot(note.poolId);
    throw failure(Code.POOL_NOT_FOUND, { op: 'moveAgent', agentId, poolId: note.poolId });
  }
  if (copied[0] !== Code.OK) {
    throw failure(Number(copied[0]), { op: 'moveAgent', agentId });
  }
  if (home !== note.shard) {
    const p = await ctx.run(
      'pointAgent',
      [dirKey(home)],
      [ctx.offsetMs, agentId, from, note.shard],
    );
    if (p[0] !== Code.OK) throw unexpected('pointAgent', p[0]);
  }
  const d = await ctx.run('dropAgent', [old.agent, old.index], [agentId, note.nonce]);
  if (d[0] !== Code.OK) throw unexpected('dropAgent', d[0]);
  ctx.where.learn(agentId, note.shard, home);
  return copied;
}

/**
 * A call met MOVING on `shard`: completes the move frozen there, if it still
 * is (another process may be at it too: every step is safe to run again).
 */
export async function settleMove(ctx: OpContext, agentId: string, shard: number): Promise<void> {
  const frozen = frozenOf(await freeze(ctx, agentId, shard, ''));
  if (frozen !== undefined) await completeMove(ctx, agentId, shard, frozen);
}
