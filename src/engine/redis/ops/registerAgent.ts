import { Code, failure } from '../../codes.js';
import { agentZone } from '../../periods.js';
import type { AgentSnapshot, RegisterInput } from '../../types.js';
import { checkRegister } from '../../validate.js';
import { type OpContext, type ReplyValue, text } from './context.js';

/**
 * Creates an agent with its limits, key digest and first session
 * (lua/registerAgent-3.lua). The same creation run twice answers the agent
 * (`replayed`); an agent that exists with another key is a CONFLICT.
 */
export async function registerAgent(ctx: OpContext, i: RegisterInput): Promise<AgentSnapshot> {
  checkRegister(i);
  const k = ctx.keys.get(i.agentId);
  const zone = agentZone(i.timeZone, Date.now() + Number(ctx.offsetMs));
  const r = await ctx.runAgent(
    'registerAgent',
    [k.agent, k.index, k.outbox],
    [
      ctx.offsetMs,
      i.agentId,
      i.role,
      i.sessionTokenLimit,
      i.dailyLimitMicros,
      i.keyDigest,
      i.metadata,
      `${i.agentId}.${ctx.rnd.nonce()}`,
      ctx.rnd.eventTail(),
      i.actor,
      i.requestsPerMinute ?? 0,
      i.tokensPerMinute ?? 0,
      i.monthlyLimitMicros ?? 0,
      zone.text,
    ],
  );
  if (r[0] !== Code.OK) throw failure(Number(r[0]), { op: 'registerAgent', agentId: i.agentId });
  return snapshotOf(ctx, i.agentId, r);
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
