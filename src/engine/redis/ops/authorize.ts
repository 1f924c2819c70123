import { Code, denied, failure, notReady, RES_STATES } from '../../codes.js';
import { outboxKey } from '../../keys.js';
import { profileOf } from '../../profile.js';
import type { AuthorizeInput, AuthorizeResult } from '../../types.js';
import { checkAuthorize } from '../../validate.js';
import { AuthorizeBatcher, type DecisionArgs } from '../authorize-batcher.js';
import { type OpContext, text } from './context.js';

/** The engine's batcher (made on first use): one lua/authorize-1.lua call per shard and tick. */
function batcherOf(ctx: OpContext): AuthorizeBatcher {
  return ctx.once(
    'authorize',
    () =>
      new AuthorizeBatcher(
        ctx.shards,
        (shard, args) =>
          ctx.run(
            'authorize',
            [outboxKey(shard)],
            [ctx.offsetMs, ctx.rnd.eventTail(), ctx.maxFree, ...args],
          ) as Promise<(number | Buffer)[]>,
        ctx.maxBatch,
        ctx.maxInFlight,
      ),
  );
}

/**
 * May the agent do the operation, and does the estimate fit its limits? If
 * so, the estimate is held under a reservation with a lease
 * (lua/authorize-1.lua; the decisions of one shard that arrive together go
 * as one call, src/engine/redis/authorize-batcher.ts).
 */
export async function authorize(ctx: OpContext, i: AuthorizeInput): Promise<AuthorizeResult> {
  const agentId = i.agentId;
  const shard = ctx.keys.get(agentId).shard; // checks the id on its first use
  const profile = profileOf(i);
  checkAuthorize(i, true);
  const batcher = batcherOf(ctx);
  const script = profile.script[i.actor];
  const decision: DecisionArgs = [
    agentId,
    i.estimatedTokens,
    ctx.rnd.nonce(),
    i.requestId ?? '',
    i.keyDigest ?? '',
    i.holdCostMicros ?? '',
  ];
  let d = await batcher.submit(shard, script, decision);
  if (d[0] === Code.SHARD_NOT_READY) {
    // Nothing was written: restore the shard, then decide once more.
    await ctx.recover(shard);
    d = await batcher.submit(shard, script, decision);
    if (d[0] === Code.SHARD_NOT_READY) throw notReady(shard);
  }
  const code = Number(d[0]);
  const now = Number(d[d.length - 1]);
  if (code === Code.OK) {
    return {
      allowed: true,
      reservationId: `${agentId}.${decision[2]}`,
      leaseEndMs: now + profile.leaseMs,
      holdCostMicros: Number(d[2]),
      replayed: false,
      reservationState: 'open',
      status: ctx.status(agentId, d[1], now),
    };
  }
  if (code === Code.REPLAYED) {
    return {
      allowed: true,
      reservationId: `${agentId}.${text(d[3])}`,
      leaseEndMs: Number(d[4]),
      holdCostMicros: Number(d[2]),
      replayed: true,
      reservationState: RES_STATES[Number(d[5])] ?? 'open',
      status: ctx.status(agentId, d[1], now),
    };
  }
  if (code === Code.AGENT_NOT_FOUND) return denied(code, false, null);
  if (code === Code.UNAUTHENTICATED || code === Code.IDEMPOTENCY_CONFLICT) {
    throw failure(code, { op: 'authorize', agentId });
  }
  // A denial: its third value is a rate limit's ms to wait (0 else); a replay's, the code.
  const replayed = code === Code.REPLAYED_DENIAL;
  const status = ctx.status(agentId, d[1], now);
  if (replayed) return denied(Number(d[2]), true, status, Number(d[3]));
  return denied(code, false, status, Number(d[2]));
}
