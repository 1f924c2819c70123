import { Code, failure } from '../../codes.js';
import type { SessionChange, SessionInput } from '../../types.js';
import { checkSession } from '../../validate.js';
import { type OpContext, type ReplyValue, text } from './context.js';
import { runLocated } from './locate.js';

/**
 * Ends the agent's current session and begins a new one with a fresh session
 * budget (lua/startSession-3.lua); open holds move into the new session.
 */
export async function startSession(ctx: OpContext, i: SessionInput): Promise<SessionChange> {
  checkSession(i);
  const r = await runLocated(ctx, i.agentId, 'startSession', (k) => [k.agent, k.leases, k.outbox], [
    ctx.offsetMs,
    i.agentId,
    i.sessionId ?? `${i.agentId}.${ctx.rnd.nonce()}`,
    i.endSessionId ?? '',
    ctx.rnd.eventTail(),
    i.actor,
    ctx.maxFree,
  ]);
  if (r[0] !== Code.OK) {
    throw failure(Number(r[0]), {
      op: 'startSession',
      agentId: i.agentId,
      sessionId: i.sessionId,
      endSessionId: i.endSessionId,
    });
  }
  const e = r[1] as ReplyValue[];
  return {
    ended: {
      sessionId: text(e[0]),
      startedMs: Number(text(e[1])),
      tokensUsed: Number(text(e[2])),
      costMicros: Number(text(e[3])),
      operationsBlocked: Number(text(e[4])),
      dailyCostMicros: Number(text(e[5])),
    },
    status: ctx.status(i.agentId, r[2], r[3]),
    replayed: Number(e[6]) === 1,
  };
}
