import { NO_ALERTS } from '../../alerts.js';
import { Code, failure, notReady, type Recorded, settleOutcome } from '../../codes.js';
import { outboxKey } from '../../keys.js';
import type { SettleInput, SettleResult } from '../../types.js';
import { checkSettle } from '../../validate.js';
import { type SettleArgs, SettleBatcher, type SettleReply } from '../settle-batcher.js';
import { closeLeftHold } from './closeLeftHold.js';
import { type OpContext, type ReplyValue, text } from './context.js';
import { follow, misplaced } from './locate.js';

/** The engine's batcher (made on first use): one lua/settle-1.lua call per shard and tick. */
function batcherOf(ctx: OpContext): SettleBatcher {
  return ctx.once(
    'settle',
    () =>
      new SettleBatcher(
        ctx.shards,
        (shard, alerts, args) =>
          ctx.run(
            'settle',
            [outboxKey(shard)],
            [ctx.offsetMs, ctx.rnd.eventTail(), ctx.maxFree, alerts.min, alerts.text, ...args],
          ),
        ctx.maxBatch,
        ctx.maxInFlight,
      ),
  );
}

/**
 * Records what an authorized operation used and frees its hold
 * (lua/settle-1.lua; the settles of one shard that arrive together go as one
 * call, src/engine/redis/settle-batcher.ts): by reservation id, or without
 * one the agent's oldest open hold for the operation, under the caller's
 * usage id.
 */
export async function settle(ctx: OpContext, i: SettleInput): Promise<SettleResult> {
  const { agentId, nonce } = checkSettle(i);
  const home = ctx.keys.get(agentId).shard;
  const shard = ctx.where.shardOf(agentId) ?? home;
  const byOperation = nonce === '';
  const args: SettleArgs = [
    agentId,
    nonce,
    byOperation ? (i.operation ?? '') : '',
    i.inputTokens,
    i.outputTokens,
    i.result,
    i.keyDigest ?? '',
    i.actor,
    byOperation ? (i.usageId ?? `u-${ctx.rnd.nonce()}`) : '',
    i.costMicros ?? '',
    i.estimated === true ? '1' : '',
    i.pricedAs ?? '',
    i.model ?? '',
  ];
  const alerts = i.alerts ?? NO_ALERTS;
  const batcher = batcherOf(ctx);
  // Told once, at the first send; a settle that waits for replicas is not "sent" before WAIT.
  let onSending = ctx.waitReplicas > 0 ? undefined : i.onSending;
  const sending = (): void => {
    const f = onSending;
    onSending = undefined;
    try {
      f?.();
    } catch {
      // The caller's hook: its failure is not the settle's, which goes out all the same.
    }
  };
  let last = shard;
  const once = async (at: number): Promise<ReplyValue[]> => {
    last = at;
    const r = await batcher.submit(at, args, alerts, sending);
    if (r[0] !== Code.SHARD_NOT_READY) return r;
    // Nothing was written: restore the shard, then settle once more.
    await ctx.recover(at);
    const again = await batcher.submit(at, args, alerts);
    if (again[0] === Code.SHARD_NOT_READY) throw notReady(at);
    return again;
  };
  let r = await once(shard);
  // Not on this shard (nothing written): settle where the agent lives (ops/locate.ts).
  if (misplaced(r, shard !== home)) r = await follow(ctx, agentId, shard, shard !== home, r, once);
  const result = settleResult(ctx, r, agentId, i);
  // A hold that moved here with its agent: its pools, on another shard, are closed there.
  const root = text(r[6]);
  if (root !== '') {
    const used = i.inputTokens + i.outputTokens;
    await closeLeftHold(ctx, last, root, result.reservationId, used, result.costMicros, alerts);
  }
  return result;
}

/** A settle's reply (lua/settle-1.lua) as its result, or its error. */
function settleResult(
  ctx: OpContext,
  r: SettleReply,
  agentId: string,
  i: SettleInput,
): SettleResult {
  const code = r[0] as number;
  const now = r[r.length - 1];
  if (code === Code.OK || code === Code.ALREADY_CLOSED) {
    return {
      outcome: settleOutcome(code),
      reservationId: `${agentId}.${text(r[2])}`,
      costMicros: r[3] as number,
      overrunTokens: r[4] as number,
      overrunMicros: r[5] as number,
      status: ctx.status(agentId, r[1], now),
    };
  }
  if (code === Code.NO_HOLD) {
    return {
      outcome: 'no_hold',
      reservationId: '',
      costMicros: 0,
      overrunTokens: 0,
      overrunMicros: 0,
      status: ctx.status(agentId, r[1], now),
    };
  }
  throw failure(code, {
    op: 'settle',
    agentId,
    reservationId: i.reservationId,
    usageId: i.usageId,
    recorded: code === Code.IDEMPOTENCY_CONFLICT ? recordedOf(r) : undefined,
    holdModel: code === Code.MODEL_MISMATCH ? text(r[1]) : undefined,
  });
}

/** What an IDEMPOTENCY_CONFLICT reply says was recorded (nonce, state, in, out, result, cost). */
function recordedOf(r: SettleReply): Recorded {
  const state = text(r[2]);
  if (state !== 'settled') return { state };
  return {
    state,
    input_tokens: Number(r[3]),
    output_tokens: Number(r[4]),
    result: text(r[5]),
    cost: Number(r[6]),
  };
}
