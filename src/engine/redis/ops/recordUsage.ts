import { NO_ALERTS } from '../../alerts.js';
import { Code, failure } from '../../codes.js';
import type { UsageInput, UsageResult } from '../../types.js';
import { checkUsage } from '../../validate.js';
import type { OpContext, ReplyValue } from './context.js';
import { runLocated } from './locate.js';

/**
 * Records usage that had no hold (lua/recordUsage-3.lua): always, even past a
 * limit. The same usage id again answers the recorded cost (`replayed`).
 */
export async function recordUsage(ctx: OpContext, i: UsageInput): Promise<UsageResult> {
  checkUsage(i);
  const alerts = i.alerts ?? NO_ALERTS;
  const r = await runLocated(ctx, i.agentId, 'recordUsage', (k) => [k.agent, k.leases, k.outbox], [
    ctx.offsetMs,
    i.agentId,
    i.operation ?? '',
    i.inputTokens,
    i.outputTokens,
    i.rates.inputMicrosPerMillion,
    i.rates.outputMicrosPerMillion,
    i.rates.model,
    i.result,
    i.keyDigest ?? '',
    ctx.rnd.eventTail(),
    i.actor,
    ctx.maxFree,
    i.usageId ?? `u-${ctx.rnd.nonce()}`,
    i.costMicros ?? '',
    alerts.min,
    alerts.text,
  ]);
  const code = Number(r[0]);
  if (code !== Code.OK && code !== Code.ALREADY_CLOSED) {
    throw failure(code, { op: 'recordUsage', agentId: i.agentId, usageId: i.usageId });
  }
  return {
    costMicros: Number((r[1] as ReplyValue[])[0]),
    replayed: code === Code.ALREADY_CLOSED,
    status: ctx.status(i.agentId, r[2], r[3]),
  };
}
