import type { UsageAnswer } from '../api/routes/gate.schemas.js';
import { costMicros, microsToUsd, usdToMicros } from '../engine/money.js';
import type { Actor, Engine, Exceeded, PoolPeriod } from '../engine/types.js';
import { digestKey, generateApiKey } from '../identity/api-key.js';
import type { Policy } from '../policy/index.js';
import { type DashboardRow, toDashboardRow } from './dashboard.js';
import { type BudgetStatus, toBudgetStatus } from './status.js';
import { newUsageId } from './usage-id.js';

export interface BudgetDeps {
  engine: Engine;
  policy: Policy;
  actor: Actor;
}

/** Usage that happened with nothing held (Budget.recordUsage). */
export interface UsageRecord {
  agentId: string;
  inputTokens: number;
  outputTokens: number;
  /** Prices the usage (the policy's rates; unknown or none: its default rates). */
  model?: string;
  operation?: string;
  /** Names this usage: recorded again with it, nothing counts twice. */
  usageId?: string;
  /** Default 'success'. */
  result?: 'success' | 'failure';
  /**
   * The exact cost in micro-dollars, priced by trusted code; absent: the
   * tokens at `model`'s rates. POST /v1/usage never passes it
   * (docs/engine.md#priced-holds-and-settles).
   */
  costMicros?: number;
  /** SHA-256 (hex) of the caller's agent key: the engine checks it in the same step (src/api). */
  keyDigest?: string;
}

export interface BudgetCheck {
  allowed: boolean;
  reason: string | null;
  error_code?: 'AGENT_NOT_FOUND' | 'BUDGET_EXCEEDED';
  exceeded?: Exceeded;
  /** `exceeded: 'pool'`: the pool whose cost limit would deny, and which period (docs/limits.md, "Pools"). */
  pool_id?: string;
  period?: PoolPeriod;
  suggestion?: string;
  budget_status: BudgetStatus | null;
}

/**
 * The guide's budget-tracker, async, on the engine. `checkBudget` holds
 * nothing (use guard.checkPermission to hold the estimate).
 */
export class Budget {
  constructor(private readonly deps: BudgetDeps) {}

  /**
   * Sets an agent's limits (USD for the daily limit). An agent that does not
   * exist yet is registered with this role, as the guide's test does.
   */
  async initializeBudget(
    agentId: string,
    role: string,
    sessionTokenLimit?: number,
    dailyCostLimit?: number,
  ): Promise<BudgetStatus> {
    const d = this.deps.policy.roleBudget(role);
    const sessionLimit = sessionTokenLimit ?? d.sessionTokenLimit;
    const dailyMicros =
      dailyCostLimit !== undefined ? usdToMicros(dailyCostLimit) : d.dailyCostLimitMicros;
    const existing = await this.deps.engine.getAgent(agentId);
    if (!existing) {
      const snap = await this.deps.engine.registerAgent({
        agentId,
        role,
        sessionTokenLimit: sessionLimit,
        dailyLimitMicros: dailyMicros,
        ...this.deps.policy.roleRates(role),
        ...this.deps.policy.rolePeriods(role),
        keyDigest: digestKey(generateApiKey(agentId)),
        metadata: '{}',
        actor: this.deps.actor,
      });
      return toBudgetStatus(snap.status);
    }
    const snap = await this.deps.engine.updateAgent({
      agentId,
      event: 'limits_changed',
      set: { role, sessionTokenLimit: sessionLimit, dailyLimitMicros: dailyMicros },
      actor: this.deps.actor,
    });
    return toBudgetStatus(snap.status);
  }

  /**
   * Overrides limits (PUT /v1/agents/:id/budget); a rate limit or monthly
   * limit of 0 removes it. Money in USD; `timeZone`: an IANA name (the day and
   * month become local to it at once, docs/limits.md).
   */
  async setLimits(
    agentId: string,
    limits: {
      sessionTokenLimit?: number;
      dailyCostLimit?: number;
      requestsPerMinute?: number;
      tokensPerMinute?: number;
      monthlyCostLimit?: number;
      timeZone?: string;
    },
  ): Promise<BudgetStatus> {
    const snap = await this.deps.engine.updateAgent({
      agentId,
      event: 'limits_changed',
      set: {
        sessionTokenLimit: limits.sessionTokenLimit,
        dailyLimitMicros:
          limits.dailyCostLimit !== undefined ? usdToMicros(limits.dailyCostLimit) : undefined,
        requestsPerMinute: limits.requestsPerMinute,
        tokensPerMinute: limits.tokensPerMinute,
        monthlyLimitMicros:
          limits.monthlyCostLimit !== undefined ? usdToMicros(limits.monthlyCostLimit) : undefined,
        timeZone: limits.timeZone,
      },
      actor: this.deps.actor,
    });
    return toBudgetStatus(snap.status);
  }

  async getBudgetStatus(agentId: string): Promise<BudgetStatus | null> {
    const s = await this.deps.engine.status(agentId);
    return s ? toBudgetStatus(s) : null;
  }

  /**
   * Would this estimate fit now, in the agent's budgets and in the cost
   * limits of the pools above it? Reads only; holds nothing (rate limits are
   * not looked at).
   */
  async checkBudget(
    agentId: string,
    estimatedTokens: number,
    model?: string,
  ): Promise<BudgetCheck> {
    const s = await this.deps.engine.status(agentId);
    if (!s) {
      return {
        allowed: false,
        reason: 'Agent not found',
        error_code: 'AGENT_NOT_FOUND',
        budget_status: null,
      };
    }
    const r = this.deps.policy.rates(model);
    const hold = costMicros(
      estimatedTokens,
      Math.max(r.inputMicrosPerMillion, r.outputMicrosPerMillion),
      0,
      0,
    );
    const status = toBudgetStatus(s);
    if (s.sessionTokensUsed + s.sessionTokensReserved + estimatedTokens > s.sessionTokenLimit) {
      return { allowed: false, ...budgetReason('session', status), budget_status: status };
    }
    if (s.dailyCostMicros + s.dailyReservedMicros + hold > s.dailyLimitMicros) {
      return { allowed: false, ...budgetReason('daily', status), budget_status: status };
    }
    if (
      s.monthlyLimitMicros > 0 &&
      s.monthlyCostMicros + s.dailyReservedMicros + hold > s.monthlyLimitMicros
    ) {
      return { allowed: false, ...budgetReason('monthly', status), budget_status: status };
    }
    // The pools above the agent, leaf first (docs/limits.md, "Pools"): their cost limits.
    for (let id = s.poolId; id !== null; ) {
      const p = await this.deps.engine.poolStatus(id);
      if (p === null) break;
      const over = (used: number, held: number, limit: number) =>
        limit > 0 && used + held + hold > limit;
      if (over(p.dailyCostMicros, p.dailyReservedMicros, p.dailyLimitMicros)) {
        return { allowed: false, ...poolReason(id, 'daily'), budget_status: status };
      }
      if (over(p.monthlyCostMicros, p.monthlyReservedMicros, p.monthlyLimitMicros)) {
        return { allowed: false, ...poolReason(id, 'monthly'), budget_status: status };
      }
      id = p.parentId;
    }
    return { allowed: true, reason: null, budget_status: status };
  }

  /**
   * Records usage with no reservation; always recorded, even past a limit.
   * `usageId` names this usage (made here when not given): recording it again
   * with the same values counts nothing twice; with other values it throws
   * IDEMPOTENCY_CONFLICT.
   */
  async deductBudget(
    agentId: string,
    inputTokens: number,
    outputTokens: number,
    model?: string,
    operation?: string,
    usageId: string = newUsageId(),
  ): Promise<BudgetStatus> {
    const r = await this.recordUsage({
      agentId,
      usageId,
      operation,
      inputTokens,
      outputTokens,
      model,
    });
    return r.budget_status;
  }

  /**
   * deductBudget with its cost and whether it was a replay, as POST /v1/usage
   * answers: the one place usage with no hold is priced (the policy's rates
   * for `model`). Without a `usageId` the engine makes one.
   */
  async recordUsage(usage: UsageRecord): Promise<UsageAnswer> {
    const r = await this.deps.engine.recordUsage({
      agentId: usage.agentId,
      usageId: usage.usageId,
      operation: usage.operation,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      rates: this.deps.policy.rates(usage.model),
      costMicros: usage.costMicros,
      result: usage.result ?? 'success',
      keyDigest: usage.keyDigest,
      actor: this.deps.actor,
      alerts: this.deps.policy.alerts,
    });
    return {
      cost: microsToUsd(r.costMicros),
      replayed: r.replayed,
      budget_status: toBudgetStatus(r.status),
    };
  }

  /**
   * The guide's getBudgetDashboard: one row per agent. One read per shard (in
   * parallel), not one per agent.
   */
  async getBudgetDashboard(): Promise<DashboardRow[]> {
    return (await this.deps.engine.listAgents()).map(toDashboardRow);
  }

  /** Starts a new session: a fresh session budget. */
  async resetSession(agentId: string): Promise<BudgetStatus> {
    const change = await this.deps.engine.startSession({ agentId, actor: this.deps.actor });
    return toBudgetStatus(change.status);
  }
}

/** The guide's texts for an exceeded budget. */
export function budgetReason<E extends Exclude<Exceeded, 'pool'>>(
  exceeded: E,
  s: BudgetStatus,
): { error_code: 'BUDGET_EXCEEDED'; exceeded: E; reason: string; suggestion: string } {
  if (exceeded === 'session') {
    return {
      error_code: 'BUDGET_EXCEEDED',
      exceeded,
      reason: `Session token limit reached. Used: ${s.session.tokens_used}/${s.session.tokens_limit}`,
      suggestion: 'Start a new session or increase session limit',
    };
  }
  if (exceeded === 'monthly') {
    const m = s.monthly;
    return {
      error_code: 'BUDGET_EXCEEDED',
      exceeded,
      reason: `Monthly cost limit reached. Used: $${m.cost_used.toFixed(2)}/$${(m.cost_limit ?? 0).toFixed(2)}`,
      suggestion: `Wait for monthly reset at ${m.resets_at} or increase monthly limit`,
    };
  }
  return {
    error_code: 'BUDGET_EXCEEDED',
    exceeded,
    reason: `Daily cost limit reached. Used: $${s.daily.cost_used.toFixed(2)}/$${s.daily.cost_limit.toFixed(2)}`,
    suggestion: `Wait for daily reset at midnight ${s.daily.time_zone} or increase daily limit`,
  };
}

/**
 * The texts of a pool's cost limit that denies (docs/limits.md, "Pools"): the
 * decision's and checkBudget's. The status beside them is the agent's; the
 * pool's figures are at GET /v1/pools/:id (`pools.get`).
 */
export function poolReason(
  poolId: string,
  period: PoolPeriod,
): {
  error_code: 'BUDGET_EXCEEDED';
  exceeded: 'pool';
  pool_id: string;
  period: PoolPeriod;
  level: string;
  reason: string;
  suggestion: string;
} {
  const word = period === 'daily' ? 'Daily' : 'Monthly';
  const when = period === 'daily' ? 'local midnight' : 'the start of its next local month';
  return {
    error_code: 'BUDGET_EXCEEDED',
    exceeded: 'pool',
    pool_id: poolId,
    period,
    level: poolId,
    reason: `${word} cost limit of pool ${poolId} reached (shared by the agents beneath it)`,
    suggestion: `Wait for pool ${poolId}'s reset at ${when}, raise its ${period}_cost_limit, or move the agent to another pool`,
  };
}
