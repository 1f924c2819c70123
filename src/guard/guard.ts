import type { ReleaseAnswer, SettleAnswer } from '../api/routes/gate.schemas.js';
import { Budget } from '../budget/budget.js';
import { type BudgetStatus, toBudgetStatus } from '../budget/status.js';
import { newUsageId } from '../budget/usage-id.js';
import { IsoTimeMemo } from '../engine/clock.js';
import type { Actor, Engine } from '../engine/types.js';
import { TollgateError } from '../errors.js';
import type { Policy } from '../policy/index.js';
import { type Decision, settleAnswer, toDecision } from './decision.js';
import {
  authorizeModelCall,
  type ModelCall,
  type ModelCallSettle,
  type ModelSettleAnswer,
  settleModelCall,
} from './model-call.js';

export interface GuardDeps {
  engine: Engine;
  policy: Policy;
  actor: Actor;
}

/** Who calls with an agent key (the HTTP API): the engine checks the key in the same step. */
export interface CallerKey {
  /** SHA-256 (hex) of the caller's agent key (src/identity/api-key.ts `digestKey`). */
  keyDigest?: string;
}

export interface PermissionContext extends CallerKey {
  estimatedTokens?: number;
  model?: string;
  requestId?: string;
  /**
   * The hold's exact cost in micro-dollars, priced by trusted code (the
   * model-call wiring); absent: the estimate at the model's hold rate. The
   * HTTP API never passes it (docs/engine.md#priced-holds-and-settles).
   */
  holdCostMicros?: number;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /**
   * Prices usage recorded with no hold. A hold's settle is priced at the
   * hold's model (fixed when it was authorized); this is then ignored.
   */
  model?: string;
  /**
   * The usage's exact cost in micro-dollars, priced by trusted code; absent:
   * the tokens at the hold's rates (or `model`'s, with no hold). Only
   * recordOperation uses it (docs/engine.md#priced-holds-and-settles).
   */
  costMicros?: number;
}

/** What recordOperation answers: a settle's answer, or usage recorded with no hold. */
export type RecordResult = { success: true } & (
  | SettleAnswer
  | (Omit<SettleAnswer, 'outcome' | 'reservation_id'> & {
      /** Nothing was held for this operation: the usage was recorded as plain usage. */
      outcome: 'no_hold';
      reservation_id: null;
    })
);

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
  private readonly budget: Budget;

  constructor(private readonly deps: GuardDeps) {
    this.budget = new Budget(deps);
  }

  checkRBAC(role: string, operation: string): { allowed: boolean; reason: string | null } {
    return this.deps.policy.isAllowed(role, operation)
      ? { allowed: true, reason: null }
      : { allowed: false, reason: `Role ${role} not authorized for operation ${operation}` };
  }

  estimateTokensForOperation(operation: string): number {
    return this.deps.policy.estimate(operation);
  }

  /**
   * Authorize: a yes holds the estimate under `reservation_id` until settled,
   * released or expired. The one place a decision's engine input is built
   * (POST /v1/authorize calls this too, with the caller's key digest).
   */
  async checkPermission(
    agentId: string,
    operation: string,
    context: PermissionContext = {},
  ): Promise<Decision> {
    const p = this.deps.policy;
    const profile = p.profile(operation, context.model);
    const r = await this.deps.engine.authorize({
      agentId,
      profile,
      estimatedTokens: context.estimatedTokens ?? p.estimate(operation),
      requestId: context.requestId,
      keyDigest: context.keyDigest,
      holdCostMicros: context.holdCostMicros,
      actor: this.deps.actor,
    });
    return toDecision(r, agentId, operation, profile.rates.model, this.iso);
  }

  /**
   * Authorize a model call (`model_call`): the hold is priced here from its
   * tokens with the policy's price table (docs/models.md, "The hold"), not
   * from an estimate. `outputTokens` undefined: the request set no limit, and
   * the agent's role's `outputCap` (times `choices`) is held. The roles
   * allowed are those whose `models` globs match the model. An allowed
   * decision carries `held_tokens`.
   */
  authorizeModelCall(agentId: string, call: ModelCall): Promise<Decision> {
    return authorizeModelCall(this.deps, agentId, call, this.iso);
  }

  /**
   * Settles a model call's hold with the provider's usage, priced here with
   * the policy's price table (cache reads and writes, tiers); `estimated`:
   * the usage was not seen and these are the hold's tokens. The model must be
   * the hold's (else VALIDATION_FAILED, nothing settled). Idempotent as
   * `settle`.
   */
  settleModelCall(
    reservationId: string,
    call: ModelCallSettle,
    key: CallerKey = {},
  ): Promise<ModelSettleAnswer> {
    return settleModelCall(this.deps, reservationId, call, key);
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
      costMicros: usage.costMicros,
      result,
      actor: this.deps.actor,
      alerts: this.deps.policy.alerts,
    });
    if (s.outcome !== 'no_hold') {
      return { success: true, ...settleAnswer(s, s.outcome, s.reservationId) };
    }
    const u = await this.budget.recordUsage({
      agentId,
      usageId,
      operation,
      inputTokens,
      outputTokens,
      model: usage.model,
      costMicros: usage.costMicros,
      result,
    });
    return {
      success: true,
      outcome: 'no_hold',
      reservation_id: null,
      cost: u.cost,
      overrun_tokens: 0,
      overrun_cost: 0,
      budget_status: u.budget_status,
    };
  }

  /**
   * Settles hold `reservationId` with the usage it had, as POST /v1/settle
   * answers. Priced at the hold's model; idempotent by reservation id (the
   * same usage again: `already_closed` and the recorded cost; other usage, or
   * a released hold: IDEMPOTENCY_CONFLICT).
   */
  async settle(
    reservationId: string,
    usage: { inputTokens: number; outputTokens: number },
    result: 'success' | 'failure',
    key: CallerKey = {},
  ): Promise<SettleAnswer> {
    const s = await this.deps.engine.settle({
      reservationId,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      result,
      keyDigest: key.keyDigest,
      actor: this.deps.actor,
      alerts: this.deps.policy.alerts,
    });
    if (s.outcome === 'no_hold') {
      // Only a settle by operation (no reservation id) can find no hold.
      throw new TollgateError('RESERVATION_NOT_FOUND', 'Reservation not found', {
        reservation_id: reservationId,
      });
    }
    return settleAnswer(s, s.outcome, reservationId);
  }

  /** Frees hold `reservationId` without usage, as POST /v1/release answers. Idempotent. */
  async release(reservationId: string, key: CallerKey = {}): Promise<ReleaseAnswer> {
    const r = await this.deps.engine.release({
      reservationId,
      keyDigest: key.keyDigest,
      actor: this.deps.actor,
    });
    return {
      outcome: r.outcome,
      reservation_id: reservationId,
      budget_status: toBudgetStatus(r.status),
    };
  }

  /** Frees a hold without usage (the operation did not run). Idempotent. */
  async releaseReservation(reservationId: string): Promise<BudgetStatus> {
    return (await this.release(reservationId)).budget_status;
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
