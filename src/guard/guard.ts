import { type BudgetStatus, toBudgetStatus } from '../budget/status.js';
import { newUsageId } from '../budget/usage-id.js';
import { IsoTimeMemo } from '../engine/clock.js';
import type { Actor, Engine } from '../engine/types.js';
import type { Policy } from '../policy/index.js';
import { type Decision, toDecision } from './decision.js';

export interface GuardDeps {
  engine: Engine;
  policy: Policy;
  actor: Actor;
}

export interface PermissionContext {
  estimatedTokens?: number;
  model?: string;
  requestId?: string;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /**
   * Prices usage recorded with no hold. A hold's settle is priced at the
   * hold's model (fixed when it was authorized); this is then ignored.
   */
  model?: string;
}

export interface RecordResult {
  success: true;
  /**
   * `settled`; `already_closed`: the same settle was recorded before (nothing
   * counted again); `no_hold`: nothing was held for this operation, recorded
   * as plain usage.
   */
  outcome: 'settled' | 'already_closed' | 'no_hold';
  reservation_id: string | null;
  /** USD. */
  cost: number;
  /** Tokens used above the hold's estimate (0 within it, and with no hold). */
  overrun_tokens: number;
  /** USD above the hold's cost (0 within it, and with no hold). */
  overrun_cost: number;
  budget_status: BudgetStatus;
}

/** Thrown by executeAgentOperation when the decision is a denial (as the guide's executor does). */
export class PermissionDeniedError extends Error {
  readonly code: string;
  constructor(readonly decision: Extract<Decision, { allowed: false }>) {
    super(`Permission denied: ${decision.reason} (${decision.error_code})`);
    this.name = 'PermissionDeniedError';
    this.code = decision.error_code;
  }
}

/**
 * The guide's permission-checker: identity, RBAC and budget in one atomic
 * authorize that holds the estimate; recordOperation settles that hold.
 */
export class Guard {
  /** The lease ends of decisions, as ISO text (consecutive decisions mostly share one). */
  private readonly leaseEnds = new IsoTimeMemo();
  private readonly iso = (ms: number): string => this.leaseEnds.iso(ms);

  constructor(private readonly deps: GuardDeps) {}

  checkRBAC(role: string, operation: string): { allowed: boolean; reason: string | null } {
    return this.deps.policy.isAllowed(role, operation)
      ? { allowed: true, reason: null }
      : { allowed: false, reason: `Role ${role} not authorized for operation ${operation}` };
  }

  estimateTokensForOperation(operation: string): number {
    return this.deps.policy.estimate(operation);
  }

  /** Authorize: a yes holds the estimate under `reservation_id` until settled, released or expired. */
  async checkPermission(
    agentId: string,
    operation: string,
    context: PermissionContext = {},
  ): Promise<Decision> {
    const p = this.deps.policy;
    const r = await this.deps.engine.authorize({
      agentId,
      operation,
      estimatedTokens: context.estimatedTokens ?? p.estimate(operation),
      rates: p.rates(context.model),
      leaseMs: p.leaseMs,
      allowedRoles: p.rolesAllowed(operation),
      requestId: context.requestId,
      actor: this.deps.actor,
    });
    return toDecision(r, agentId, operation, this.iso);
  }

  /**
   * Records what the operation used. With a reservation id, settles that hold;
   * without, the agent's oldest open hold for the operation; with none open,
   * records the usage with no hold. Usage is always recorded, once: one usage
   * id (`usageId`, made here when not given) names this call, so an engine
   * call run twice counts nothing twice, and calling again with the same
   * usage id (or reservation id) and the same usage answers the first result.
   * The same id with other usage throws IDEMPOTENCY_CONFLICT. A hold is priced
   * at its own model; `usage.model` prices usage with no hold.
   */
  async recordOperation(
    agentId: string,
    operation: string,
    usage: Usage,
    result: 'success' | 'failure' = 'success',
    reservationId?: string,
    usageId: string = newUsageId(),
  ): Promise<RecordResult> {
    const inputTokens = usage.inputTokens ?? 0;
    const outputTokens = usage.outputTokens ?? 0;
    const s = await this.deps.engine.settle({
      agentId,
      reservationId,
      operation,
      // Settle by operation: the usage id names it (with a reservation id, that id does).
      usageId: reservationId === undefined ? usageId : undefined,
      inputTokens,
      outputTokens,
      result,
      actor: this.deps.actor,
    });
    if (s.outcome !== 'no_hold') {
      return {
        success: true,
        outcome: s.outcome,
        reservation_id: s.reservationId,
        cost: s.costMicros / 1_000_000,
        overrun_tokens: s.overrunTokens,
        overrun_cost: s.overrunMicros / 1_000_000,
        budget_status: toBudgetStatus(s.status),
      };
    }
    const u = await this.deps.engine.recordUsage({
      agentId,
      usageId,
      operation,
      inputTokens,
      outputTokens,
      rates: this.deps.policy.rates(usage.model),
      result,
      actor: this.deps.actor,
    });
    return {
      success: true,
      outcome: 'no_hold',
      reservation_id: null,
      cost: u.costMicros / 1_000_000,
      overrun_tokens: 0,
      overrun_cost: 0,
      budget_status: toBudgetStatus(u.status),
    };
  }

  /** Frees a hold without usage (the operation did not run). Idempotent. */
  async releaseReservation(reservationId: string): Promise<BudgetStatus> {
    const r = await this.deps.engine.release({ reservationId, actor: this.deps.actor });
    return toBudgetStatus(r.status);
  }

  /**
   * The guide's executeAgentOperation: authorize, run `fn`, settle with the
   * usage it reports. A denial throws PermissionDeniedError. If `fn` throws,
   * the failure is settled with the estimate as input tokens (as the guide
   * does) and the error is rethrown.
   */
  async executeAgentOperation<T extends Usage>(
    agentId: string,
    operation: string,
    context: PermissionContext,
    fn: () => Promise<T>,
  ): Promise<T & { budget_status: BudgetStatus; execution_time_ms: number }> {
    const decision = await this.checkPermission(agentId, operation, context);
    if (!decision.allowed) throw new PermissionDeniedError(decision);
    const started = performance.now();
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      const estimate = context.estimatedTokens ?? this.deps.policy.estimate(operation);
      await this.recordOperation(
        agentId,
        operation,
        { inputTokens: estimate, outputTokens: 0, model: context.model },
        'failure',
        decision.reservation_id,
      );
      throw err;
    }
    const rec = await this.recordOperation(
      agentId,
      operation,
      {
        inputTokens: result.inputTokens ?? 0,
        outputTokens: result.outputTokens ?? 0,
        model: result.model ?? context.model,
      },
      'success',
      decision.reservation_id,
    );
    return {
      ...result,
      budget_status: rec.budget_status,
      execution_time_ms: Math.round(performance.now() - started),
    };
  }

  /** Short name for executeAgentOperation. */
  run<T extends Usage>(
    agentId: string,
    operation: string,
    context: PermissionContext,
    fn: () => Promise<T>,
  ) {
    return this.executeAgentOperation(agentId, operation, context, fn);
  }
}
