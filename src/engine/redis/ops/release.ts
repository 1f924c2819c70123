import { Code, failure, releaseOutcome } from '../../codes.js';
import type { ReleaseInput, ReleaseResult } from '../../types.js';
import { checkRelease } from '../../validate.js';
import { closeLeftHold } from './closeLeftHold.js';
import { type OpContext, type ReplyValue, text } from './context.js';
import { runLocatedAt } from './locate.js';

/** Frees a hold without usage (lua/release-3.lua); a closed hold answers `already_closed`. */
export async function release(ctx: OpContext, i: ReleaseInput): Promise<ReleaseResult> {
  const { agentId, nonce } = checkRelease(i);
  const { reply: r, shard: at } = await runLocatedAt(
    ctx,
    agentId,
    'release',
    (k) => [k.agent, k.leases, k.outbox],
    [ctx.offsetMs, agentId, nonce, i.keyDigest ?? '', ctx.rnd.eventTail(), i.actor, ctx.maxFree],
  );
  const code = Number(r[0]);
  if (code !== Code.OK && code !== Code.ALREADY_CLOSED) {
    throw failure(code, { op: 'release', agentId, reservationId: i.reservationId });
  }
  // A hold that moved here with its agent: its pools, on another shard, are closed there.
  const root = text((r[1] as ReplyValue[])[0]);
  if (root !== '') await closeLeftHold(ctx, at, root, `${agentId}.${nonce}`, '', 0);
  return {
    outcome: releaseOutcome(code),
    reservationId: i.reservationId,
    status: ctx.status(agentId, r[2], r[3]),
  };
}
