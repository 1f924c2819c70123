import type { Decision, SettleAnswer } from '../api/routes/gate.schemas.js';
import { budgetReason, poolReason } from '../budget/budget.js';
import { toBudgetStatus } from '../budget/status.js';
import { microsToUsd } from '../engine/money.js';
import type { AuthorizeResult, SettleResult } from '../engine/types.js';
import { MODEL_CALL } from '../policy/names.js';

/** The decision contract (ARCHITECTURE.md, "Contracts"): its schema is the API's (src/api/routes/gate.schemas.ts). */
export type { Decision };

const isoTime = (ms: number): string => new Date(ms).toISOString();

/**
 * Turns an engine result into the guide's decision shape and texts. `model` is
 * the profile's (`rates.model`: the model named, or the one it was priced as);
 * `iso` formats the lease end (a caller deciding often passes an IsoTimeMemo's).
 */
export function toDecision(
  r: AuthorizeResult,
  agentId: string,
  operation: string,
  model: string,
  iso: (ms: number) => string = isoTime,
): Decision {
  if (r.allowed) {
    const d: Decision = {
      allowed: true,
      reservation_id: r.reservationId,
      expires_at: iso(r.leaseEndMs),
      reason: null,
      model,
      replayed: r.replayed,
      reservation_state: r.reservationState,
      budget_status: toBudgetStatus(r.status),
    };
    // Shadow mode: the denial the rules would have made (docs/operations.md).
    const w = r.wouldDeny;
    if (w !== undefined) {
      d.would_deny = {
        error_code: w.code,
        ...(w.exceeded !== undefined ? { exceeded: w.exceeded } : {}),
        ...(w.poolId !== undefined ? { pool_id: w.poolId } : {}),
      };
    }
    return d;
  }
  const status = r.status ? toBudgetStatus(r.status) : null;
  const replayed = r.replayed;
  switch (r.code) {
    case 'AGENT_NOT_FOUND':
      return {
        allowed: false,
        error_code: r.code,
        reason: 'Agent not found',
        model,
        replayed,
        budget_status: null,
      };
    case 'AGENT_SUSPENDED':
      return {
        allowed: false,
        error_code: r.code,
        reason: `Agent ${agentId} is suspended`,
        suggestion: 'Resume the agent to allow operations',
        model,
        replayed,
        budget_status: status,
      };
    case 'RBAC_DENIED':
      return {
        allowed: false,
        error_code: r.code,
        reason: `Role ${status?.role ?? 'unknown'} not authorized for operation ${operation}${
          operation === MODEL_CALL ? ` (model ${model})` : ''
        }`,
        model,
        replayed,
        budget_status: status,
      };
    case 'BUDGET_EXCEEDED': {
      if (!status) throw new Error('a budget denial always carries a status');
      if (r.exceeded === 'pool') {
        const poolId = r.poolId ?? r.level ?? 'unknown';
        return {
          allowed: false,
          ...poolReason(poolId, r.period === 'monthly' ? 'monthly' : 'daily'),
          model,
          replayed,
          budget_status: status,
        };
      }
      const exceeded = r.exceeded === 'daily' || r.exceeded === 'monthly' ? r.exceeded : 'session';
      return {
        allowed: false,
        ...budgetReason(exceeded, status),
        level: 'agent',
        model,
        replayed,
        budget_status: status,
      };
    }
    case 'RATE_LIMITED': {
      const exceeded =
        r.exceeded === 'tokens_per_minute' ? 'tokens_per_minute' : 'requests_per_minute';
      const level = r.level ?? 'agent';
      const retryAfterMs = r.retryAfterMs ?? 0;
      const retry = `Retry after ${Math.ceil(retryAfterMs / 1000)} s`;
      const what = exceeded === 'tokens_per_minute' ? 'tokens' : 'requests';
      if (level !== 'agent') {
        return {
          allowed: false,
          error_code: r.code,
          exceeded,
          level,
          retry_after_ms: retryAfterMs,
          reason: `Rate limit reached: pool ${level}'s ${what} per minute (shared by the agents beneath it)`,
          suggestion: `${retry}, or raise pool ${level}'s ${exceeded}`,
          model,
          replayed,
          budget_status: status,
        };
      }
      const limit =
        exceeded === 'tokens_per_minute'
          ? status?.rate_limits?.tokens_per_minute
          : status?.rate_limits?.requests_per_minute;
      return {
        allowed: false,
        error_code: r.code,
        exceeded,
        level,
        retry_after_ms: retryAfterMs,
        reason: `Rate limit reached: ${limit ?? 0} ${what} per minute for agent ${agentId}`,
        suggestion: `${retry}, or raise the agent's ${exceeded}`,
        model,
        replayed,
        budget_status: status,
      };
    }
  }
}

/** A settle's answer from the engine's result (a settle that found its hold). */
export function settleAnswer(
  s: SettleResult,
  outcome: SettleAnswer['outcome'],
  reservationId: string,
): SettleAnswer {
  return {
    outcome,
    reservation_id: reservationId,
    cost: microsToUsd(s.costMicros),
    overrun_tokens: s.overrunTokens,
    overrun_cost: microsToUsd(s.overrunMicros),
    budget_status: toBudgetStatus(s.status),
  };
}
