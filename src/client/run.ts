import type { BudgetStatus } from '../api/routes/shared.schemas.js';
import type { TollgateClient } from './client.js';
import { PermissionDenied } from './errors.js';

/** What `run`'s function reports it used. */
export interface RunUsage {
  inputTokens?: number;
  outputTokens?: number;
  model?: string;
}

/**
 * The guide's executeAgentOperation over HTTP (TollgateClient.run):
 * authorize, run `fn`, settle the usage it reports; a failure is settled with
 * the estimate as input tokens, then rethrown. A denial throws PermissionDenied.
 */
export async function runOperation<T extends RunUsage>(
  client: Pick<TollgateClient, 'authorize' | 'settle'>,
  agentId: string,
  operation: string,
  opts: { estimatedTokens?: number; model?: string },
  fn: () => Promise<T>,
): Promise<T & { budget_status: BudgetStatus }> {
  const d = await client.authorize({
    agent_id: agentId,
    operation,
    estimated_tokens: opts.estimatedTokens,
    model: opts.model,
  });
  if (!d.allowed) throw new PermissionDenied(d);
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    await client.settle({
      reservation_id: d.reservation_id,
      input_tokens: opts.estimatedTokens ?? 1000,
      output_tokens: 0,
      model: opts.model,
      result: 'failure',
    });
    throw err;
  }
  const s = await client.settle({
    reservation_id: d.reservation_id,
    input_tokens: result.inputTokens ?? 0,
    output_tokens: result.outputTokens ?? 0,
    model: result.model ?? opts.model,
    result: 'success',
  });
  return { ...result, budget_status: s.budget_status };
}
