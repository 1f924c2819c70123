import { Code, failure } from '../../codes.js';
import type { AgentRecordRaw, EngineStatus } from '../../types.js';
import { checkAgentId } from '../../validate.js';
import { type OpContext, type ReplyValue, text } from './context.js';
import { runLocated } from './locate.js';

/**
 * lua/getStatus-3.lua: the agent's status in one atomic read (expired holds
 * freed first), with its record: { OK, { createdMs, metadata }, state, nowMs };
 * null for an agent that does not exist.
 */
async function read(ctx: OpContext, agentId: string): Promise<ReplyValue[] | null> {
  checkAgentId(agentId);
  const r = await runLocated(ctx, agentId, 'getStatus', (k) => [k.agent, k.leases, k.outbox], [
    ctx.offsetMs,
    agentId,
    ctx.rnd.eventTail(),
    ctx.maxFree,
  ]);
  if (r[0] === Code.AGENT_NOT_FOUND) return null;
  if (r[0] !== Code.OK) throw failure(Number(r[0]), { op: 'getStatus', agentId });
  return r;
}

/** The agent's budget status, or null. */
export async function getStatus(ctx: OpContext, agentId: string): Promise<EngineStatus | null> {
  const r = await read(ctx, agentId);
  return r === null ? null : ctx.status(agentId, r[2], r[3]);
}

/** The agent's status and record (its key digest is in the packed state), or null. */
export async function getAgent(ctx: OpContext, agentId: string): Promise<AgentRecordRaw | null> {
  const r = await read(ctx, agentId);
  if (r === null) return null;
  const d = r[1] as ReplyValue[];
  return {
    status: ctx.status(agentId, r[2], r[3]),
    createdMs: Number(text(d[0])),
    metadata: d[1] === undefined ? '{}' : text(d[1]),
    keyDigest: String(ctx.state.fields(r[2] as Buffer).digest ?? ''),
  };
}
