import { toBudgetStatus } from '../../budget/status.js';
import { parseScopedId } from '../../engine/ids.js';
import { isTollgateError, TollgateError } from '../../errors.js';
import { toDecision } from '../../guard/decision.js';
import { type Caller, notThisAgentsKey } from '../auth.js';
import { defineRoute, type Route, type Services } from '../route.js';
import {
  AuthorizeRequest,
  DecisionSchema,
  ReleaseRequest,
  ReleaseResponseSchema,
  SettleRequest,
  SettleResponseSchema,
  UsageRequest,
  UsageResponseSchema,
} from '../schemas.js';

/**
 * The hot path: authorize, settle, release, usage. These call the engine
 * directly so that an agent key's digest travels with the operation and the
 * deciding script checks it (no extra round trip; a revoked key fails at once
 * on every API process).
 */
const TAG = 'gate';

function keyOf(caller: Caller | undefined): string | undefined {
  return caller?.kind === 'agent' ? caller.keyDigest : undefined;
}

function actorOf(caller: Caller | undefined): 'admin' | 'agent' {
  return caller?.kind === 'agent' ? 'agent' : 'admin';
}

const agentOfReservation = ({ body }: { body: { reservation_id: string } }) =>
  parseScopedId(body.reservation_id, 'reservation_id').agentId;

/**
 * For an agent key, the agent named here is the key's own (a key naming
 * another agent was refused with 403 before the handler). If that agent does
 * not exist, the key is a revoked one (its agent was deleted): 401, the same
 * answer as for any key that is not the agent's current key.
 */
async function hideMissingAgent<T>(
  caller: Caller | undefined,
  svc: Services,
  agentId: string,
  p: Promise<T>,
): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (caller?.kind === 'agent' && isTollgateError(e)) {
      if (e.code === 'NOT_FOUND') throw notThisAgentsKey(agentId);
      // The scripts check the key right after loading the agent: a missing
      // reservation of an existing agent got past that check; of a missing agent, it did not.
      if (e.code === 'RESERVATION_NOT_FOUND' && !(await svc.engine.getAgent(agentId))) {
        throw notThisAgentsKey(agentId);
      }
    }
    throw e;
  }
}

export const gateRoutes: Route[] = [
  defineRoute({
    method: 'post',
    path: '/v1/authorize',
    auth: 'agent',
    verify: 'engine',
    agentOf: ({ body }) => body.agent_id,
    tag: TAG,
    summary: 'Authorize an operation',
    description:
      'One atomic decision: the agent exists and is active, its role may do the operation, and the estimate fits its session and daily budgets. A yes holds the estimate under `reservation_id` until settled, released or the lease expires. Always 200 for a valid request: `allowed` says yes or no. With a `request_id` (the SDK always sends one) a request sent again answers the recorded decision with `replayed: true` (and, when allowed, the hold’s `reservation_state` now) and holds or counts nothing.',
    body: AuthorizeRequest,
    response: DecisionSchema,
    errors: ['IDEMPOTENCY_CONFLICT'],
    handler: async ({ body, svc, caller, metrics }) => {
      const p = svc.policy;
      const started = performance.now();
      const r = await svc.engine.authorize({
        agentId: body.agent_id,
        operation: body.operation,
        estimatedTokens: body.estimated_tokens ?? p.estimate(body.operation),
        rates: p.rates(body.model),
        leaseMs: p.leaseMs,
        allowedRoles: p.rolesAllowed(body.operation),
        requestId: body.request_id,
        keyDigest: keyOf(caller),
        actor: actorOf(caller),
      });
      if (!r.allowed && r.code === 'AGENT_NOT_FOUND' && caller?.kind === 'agent') {
        throw notThisAgentsKey(body.agent_id);
      }
      metrics?.decision(
        {
          allowed: r.allowed,
          code: r.allowed ? null : r.code,
          role: r.status?.role ?? null,
          // A replay (allowed or denied) decided nothing new.
          replayed: r.replayed,
        },
        (performance.now() - started) / 1000,
      );
      return toDecision(r, body.agent_id, body.operation);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/settle',
    auth: 'agent',
    verify: 'engine',
    agentOf: agentOfReservation,
    tag: TAG,
    summary: 'Settle a reservation',
    description: [
      "Records what the operation really used (always: usage may push a budget past its limit, and the status says so) and frees the hold. The usage is priced at the hold's model (`model` is accepted and ignored) and counts for the session current now. Usage above the hold is an overrun: recorded, never refused, answered in `overrun_tokens` and `overrun_cost` and added to the budget status's `tokens_overrun` and `cost_overrun`.",
      'Idempotent by reservation id: the same settle sent again records nothing and answers the recorded one (`already_closed`). A settle with other usage than the recorded one, or of a released hold, is 409 IDEMPOTENCY_CONFLICT, `details.recorded` saying what was recorded. A hold whose lease passed is still settled (a late settle).',
    ].join('\n\n'),
    body: SettleRequest,
    response: SettleResponseSchema,
    errors: ['RESERVATION_NOT_FOUND', 'IDEMPOTENCY_CONFLICT'],
    handler: async ({ body, svc, caller, metrics }) => {
      const agentId = agentOfReservation({ body });
      const s = await hideMissingAgent(
        caller,
        svc,
        agentId,
        svc.engine.settle({
          reservationId: body.reservation_id,
          inputTokens: body.input_tokens,
          outputTokens: body.output_tokens,
          // body.model is ignored: the hold's model prices the usage.
          result: body.result,
          keyDigest: keyOf(caller),
          actor: actorOf(caller),
        }),
      );
      if (s.outcome === 'no_hold') {
        // Only a settle by operation (no reservation id) can find no hold.
        throw new TollgateError('RESERVATION_NOT_FOUND', 'Reservation not found', {
          reservation_id: body.reservation_id,
        });
      }
      if (s.outcome === 'settled') {
        metrics?.settled?.({
          role: s.status.role,
          overrunTokens: s.overrunTokens,
          overrunMicros: s.overrunMicros,
        });
      }
      return {
        outcome: s.outcome,
        reservation_id: body.reservation_id,
        cost: s.costMicros / 1_000_000,
        overrun_tokens: s.overrunTokens,
        overrun_cost: s.overrunMicros / 1_000_000,
        budget_status: toBudgetStatus(s.status),
      };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/release',
    auth: 'agent',
    verify: 'engine',
    agentOf: agentOfReservation,
    tag: TAG,
    summary: 'Release a reservation',
    description: 'Frees a hold without usage (the operation did not run). Idempotent.',
    body: ReleaseRequest,
    response: ReleaseResponseSchema,
    errors: ['RESERVATION_NOT_FOUND'],
    handler: async ({ body, svc, caller }) => {
      const agentId = agentOfReservation({ body });
      const r = await hideMissingAgent(
        caller,
        svc,
        agentId,
        svc.engine.release({
          reservationId: body.reservation_id,
          keyDigest: keyOf(caller),
          actor: actorOf(caller),
        }),
      );
      return {
        outcome: r.outcome,
        reservation_id: body.reservation_id,
        budget_status: toBudgetStatus(r.status),
      };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/usage',
    auth: 'agent',
    verify: 'engine',
    agentOf: ({ body }) => body.agent_id,
    tag: TAG,
    summary: 'Record usage without a reservation',
    description:
      'The guide’s deductBudget: records usage that happened with nothing held. Always recorded, even past a limit. With a `usage_id` (the SDK always sends one) it is idempotent: sent again with the same values it answers the recorded cost with `replayed: true` and counts nothing; with other values, 409 IDEMPOTENCY_CONFLICT.',
    body: UsageRequest,
    response: UsageResponseSchema,
    errors: ['NOT_FOUND', 'IDEMPOTENCY_CONFLICT'],
    handler: async ({ body, svc, caller }) => {
      const u = await hideMissingAgent(
        caller,
        svc,
        body.agent_id,
        svc.engine.recordUsage({
          agentId: body.agent_id,
          usageId: body.usage_id,
          operation: body.operation,
          inputTokens: body.input_tokens,
          outputTokens: body.output_tokens,
          rates: svc.policy.rates(body.model),
          result: body.result ?? 'success',
          keyDigest: keyOf(caller),
          actor: actorOf(caller),
        }),
      );
      return {
        cost: u.costMicros / 1_000_000,
        replayed: u.replayed,
        budget_status: toBudgetStatus(u.status),
      };
    },
  }),
];
