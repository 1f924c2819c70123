import { Code, failure, releaseOutcome } from '../../codes.js';
import type { ReleaseInput, ReleaseResult } from '../../types.js';
import { checkRelease } from '../../validate.js';
import type { OpContext } from './context.js';
import { runLocated } from './locate.js';

/** Frees a hold without usage (lua/release-3.lua); a closed hold answers `already_closed`. */
export async function release(ctx: OpContext, i: ReleaseInput): Promise<ReleaseResult> {
  const { agentId, nonce } = checkRelease(i);
  const r = await runLocated(ctx, agentId, 'release', (k) => [k.agent, k.leases, k.outbox], [
    ctx.offsetMs,
    agentId,
    nonce,
    i.keyDigest ?? '',
    ctx.rnd.eventTail(),
    i.actor,
    ctx.maxFree,
  ]);
  const code = Number(r[0]);
  if (code !== Code.OK && code !== Code.ALREADY_CLOSED) {
    throw failure(code, { op: 'release', agentId, reservationId: i.reservationId });
  }
  return {
    outcome: releaseOutcome(code),
    reservationId: i.reservationId,
    status: ctx.status(agentId, r[2], r[3]),
  };
}
