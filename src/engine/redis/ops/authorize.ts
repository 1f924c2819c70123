import { Code, denied, failure, notReady, RES_STATES, wouldDenyOf } from '../../codes.js';
import { outboxKey } from '../../keys.js';
import { profileOf } from '../../profile.js';
import type { AuthorizeInput, AuthorizeResult } from '../../types.js';
import { checkAuthorize } from '../../validate.js';
import { AuthorizeBatcher, type DecisionArgs } from '../authorize-batcher.js';
import { type OpContext, type ReplyValue, text } from './context.js';
import { follow, misplaced } from './locate.js';

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
 * as one call, src/engine/redis/authorize-batcher.ts). The decision goes to
 * the agent's shard (its home, or where this engine last saw it: an agent in
 * a pool lives on its hierarchy's shard, ops/locate.ts).
 */
export async function authorize(ctx: OpContext, i: AuthorizeInput): Promise<AuthorizeResult> {
  const agentId = i.agentId;
  const home = ctx.keys.get(agentId).shard; // checks the id on its first use
  const shard = ctx.where.shardOf(agentId) ?? home;
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
  const decide = async (at: number): Promise<ReplyValue[]> => {
    const r = await batcher.submit(at, script, decision);
    if (r[0] !== Code.SHARD_NOT_READY) return r;
    // Nothing was written: restore the shard, then decide once more.
    await ctx.recover(at);
    const again = await batcher.submit(at, script, decision);
    if (again[0] === Code.SHARD_NOT_READY) throw notReady(at);
    return again;
  };
  let d = await decide(shard);
  // Not on this shard (nothing written): decide where the agent lives.
  if (misplaced(d, shard !== home))
    d = await follow(ctx, agentId, shard, shard !== home, d, decide);
  const code = Number(d[0]);
  const now = Number(d[d.length - 1]);
  if (code === Code.OK || code === Code.SHADOW) {
    const r: AuthorizeResult = {
      allowed: true,
      reservationId: `${agentId}.${decision[2]}`,
      leaseEndMs: now + profile.leaseMs,
      holdCostMicros: Number(d[2]),
      replayed: false,
      reservationState: 'open',
      status: ctx.status(agentId, d[1], now),
    };
    // Shadow mode: the denial it let pass follows (lua/includes/shadow.lua).
    if (code === Code.SHADOW) r.wouldDeny = wouldDenyOf(Number(d[3]), text(d[4]));
    return r;
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
  // A denial: its third value is a rate limit's ms to wait (0 else), then a pool's id;
  // a replay's: the code, the ms, the pool ('' none).
  const replayed = code === Code.REPLAYED_DENIAL;
  const status = ctx.status(agentId, d[1], now);
  if (replayed) return denied(Number(d[2]), true, status, Number(d[3]), text(d[4]));
  return denied(code, false, status, Number(d[2]), d.length > 4 ? text(d[3]) : '');
}
