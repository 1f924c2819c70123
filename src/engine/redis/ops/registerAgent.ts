import { TollgateError } from '../../../errors.js';
import { Code, failure } from '../../codes.js';
import { dirKey, shardOf } from '../../keys.js';
import { agentZone } from '../../periods.js';
import type { AgentSnapshot, RegisterInput } from '../../types.js';
import { checkRegister } from '../../validate.js';
import { recovered, TAKEOVER_MS } from './claims.js';
import { type OpContext, type ReplyValue, text } from './context.js';
import { findRoot } from './getPool.js';
import { settleMove } from './move-steps.js';

/**
 * Creates an agent with its limits, key digest and first session
 * (lua/registerAgent-3.lua). The same creation run twice answers the agent
 * (`replayed`); an agent that exists with another key is a CONFLICT.
 *
 * An agent in a pool lives on its hierarchy's shard (the root's). When that
 * is not the id's home shard, the id is claimed on its home shard first
 * (lua/claimAgent-2.lua: the directory entry, then the agent; a register sent
 * again completes one a crash cut short), so an id is unique across shards.
 * An agent found elsewhere answers there (its replay, or CONFLICT).
 */
export async function registerAgent(ctx: OpContext, i: RegisterInput): Promise<AgentSnapshot> {
  checkRegister(i);
  const agentId = i.agentId;
  const home = ctx.keys.get(agentId).shard;
  const subject = { op: 'registerAgent' as const, agentId, poolId: i.poolId };
  let root = '';
  let target = home;
  if (i.poolId !== undefined) {
    const r = await findRoot(ctx, i.poolId);
    if (r === null) throw failure(Code.POOL_NOT_FOUND, subject);
    root = r;
    target = shardOf(root, ctx.shards);
  }
  const zone = agentZone(i.timeZone, Date.now() + Number(ctx.offsetMs));
  const sessionId = `${agentId}.${ctx.rnd.nonce()}`;
  const tail = ctx.rnd.eventTail();
  const register = (shard: number, claimTime: number | '', mode: '' | 'find') => {
    const k = ctx.keys.at(agentId, shard);
    return ctx.runAgent(
      'registerAgent',
      [k.agent, k.index, k.outbox],
      [
        ctx.offsetMs,
        agentId,
        i.role,
        i.sessionTokenLimit,
        i.dailyLimitMicros,
        i.keyDigest,
        i.metadata,
        sessionId,
        tail,
        i.actor,
        i.requestsPerMinute ?? 0,
        i.tokensPerMinute ?? 0,
        i.monthlyLimitMicros ?? 0,
        zone.text,
        i.poolId ?? '',
        root,
        claimTime,
        mode,
      ],
    );
  };

  let replace = '';
  let refound = false;
  for (let attempt = 0; attempt < 8; attempt++) {
    let claimTime: number | '' = '';
    if (target !== home || replace !== '') {
      const c = await recovered(ctx, home, () =>
        ctx.run(
          'claimAgent',
          [ctx.keys.get(agentId).agent, dirKey(home)],
          [ctx.offsetMs, agentId, target, replace],
        ),
      );
      replace = '';
      if (c[0] === Code.MOVING) {
        await settleMove(ctx, agentId, home);
        continue;
      }
      if (c[0] === Code.ELSEWHERE) {
        // The agent is at home, or the entry names another shard: it is there
        // (its answer), or the entry is a claim never completed.
        const found = await elsewhere(ctx, agentId, Number(c[1]), text(c[2]), register);
        if (found.snapshot !== undefined) return found.snapshot;
        replace = found.replace;
        continue;
      }
      if (c[0] !== Code.OK) throw failure(Number(c[0]), subject);
      if (target !== home) claimTime = Number(c[1]);
    }
    const r = await register(target, claimTime, '');
    const code = r[0];
    if (code === Code.OK) {
      ctx.where.learn(agentId, target, home);
      return snapshotOf(ctx, agentId, r);
    }
    if (code === Code.STALE_CLAIM) continue;
    if (code === Code.MOVING) {
      await settleMove(ctx, agentId, target);
      continue;
    }
    if (code === Code.ELSEWHERE) {
      // The home entry names a shard: the agent answers there, or the entry is cleared above.
      const found = await elsewhere(ctx, agentId, Number(r[1]), '', register);
      if (found.snapshot !== undefined) return found.snapshot;
      replace = found.replace;
      continue;
    }
    if (code === Code.POOL_NOT_FOUND && i.poolId !== undefined && !refound) {
      refound = true;
      const again = await findRoot(ctx, i.poolId, true);
      if (again !== null && again !== root) {
        root = again;
        target = shardOf(root, ctx.shards);
        continue;
      }
    }
    throw failure(Number(code), subject);
  }
  throw failure(Code.CONFLICT, subject);
}

/** The home shard's directory entry of the agent ('' none): what claimAgent may replace. */
async function homeEntry(ctx: OpContext, agentId: string, home: number): Promise<string> {
  const e = await ctx.client.hget(dirKey(home), agentId);
  return e ?? '';
}

/**
 * The agent's home says it is on `shard`: there, it answers the registration
 * (its replay or CONFLICT: `snapshot`); not there, the entry (`entry`, or the
 * one read from home when '') is stale once older than TAKEOVER_MS by that
 * shard's clock (`replace`), else a creation may be on its way: CONFLICT.
 */
async function elsewhere(
  ctx: OpContext,
  agentId: string,
  shard: number,
  entry: string,
  register: (shard: number, claimTime: number | '', mode: '' | 'find') => Promise<ReplyValue[]>,
): Promise<{ snapshot?: AgentSnapshot; replace: string }> {
  const r = await register(shard, '', 'find');
  if (r[0] === Code.OK) return { snapshot: snapshotOf(ctx, agentId, r), replace: '' };
  if (r[0] === Code.AGENT_NOT_FOUND) {
    const home = ctx.keys.get(agentId).shard;
    const e = entry !== '' ? entry : await homeEntry(ctx, agentId, home);
    const at = Number(/:(\d+)$/.exec(e)?.[1] ?? Number.NaN);
    if (e !== '' && Number(r[1]) - at > TAKEOVER_MS) return { replace: e };
  }
  if (r[0] === Code.MOVING) {
    await settleMove(ctx, agentId, shard);
    return { replace: '' };
  }
  if (r[0] !== Code.AGENT_NOT_FOUND && r[0] !== Code.ELSEWHERE) {
    throw failure(Number(r[0]), { op: 'registerAgent', agentId });
  }
  throw new TollgateError(
    'CONFLICT',
    `Agent ${agentId} is being registered on another shard; try again shortly`,
    { agent_id: agentId, reason: 'registration_pending' },
  );
}

/** registerAgent's and updateAgent's answer: { OK, { createdMs, metadata, replayed }, state, nowMs }. */
export function snapshotOf(ctx: OpContext, agentId: string, r: ReplyValue[]): AgentSnapshot {
  const d = r[1] as ReplyValue[];
  return {
    status: ctx.status(agentId, r[2], r[3]),
    createdMs: Number(text(d[0])),
    metadata: d[1] === undefined ? '{}' : text(d[1]),
    replayed: Number(d[2]) === 1,
  };
}
