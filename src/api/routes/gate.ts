import { parseScopedId } from '../../engine/ids.js';
import { usdToMicros } from '../../engine/money.js';
import { callerKey, verifiedByEngine } from '../auth.js';
import { defineRoute, type Route } from '../route.js';
import {
  AuthorizeRequest,
  type Decision,
  DecisionSchema,
  ReleaseRequest,
  ReleaseResponseSchema,
  SettleRequest,
  SettleResponseSchema,
  UsageRequest,
  UsageResponseSchema,
} from './gate.schemas.js';

/**
 * The hot path: authorize, settle, release, usage. These call the library
 * (`guard`, `budget`) with the agent key's digest, so that it travels with
 * the operation and the deciding script checks it (no extra round trip; a
 * revoked key fails at once on every API process); what the engine answers
 * for a key whose agent is gone becomes 401 in src/api/auth.ts.
 */
const TAG = 'gate';

const agentOfReservation = ({ body }: { body: { reservation_id: string } }) =>
  parseScopedId(body.reservation_id, 'reservation_id').agentId;

export const gateRoutes: Route[] = [
  defineRoute({
    method: 'post',
    path: '/v1/authorize',
    auth: 'agent',
    verify: 'engine',
    agentOf: ({ body }) => body.agent_id,
    tag: TAG,
    summary: 'Authorize an operation',
    description: [
      'One atomic decision: the agent exists and is active, its role may do the operation, the estimate fits its session and daily budgets, then its rate limits (`RATE_LIMITED`, with `retry_after_ms` and a `Retry-After` header in seconds, rounded up; docs/limits.md). A yes holds the estimate under `reservation_id` until settled, released or the lease expires. An agent in shadow mode (its role or id, in the policy) is allowed and held where the rules deny it (but for a suspension), and the decision says so in `would_deny` (docs/operations.md, "Shadow mode"). Always 200 for a valid request: `allowed` says yes or no. With a `request_id` (the SDK always sends one) a request sent again answers the recorded decision with `replayed: true` (and, when allowed, the hold’s `reservation_state` now) and holds or counts nothing.',
      "A model call is `operation: model_call` with its `model` (required) and, instead of `estimated_tokens`, its `hold` in tokens: the server prices the hold with its policy's price table (no output limit: the role's `max_output_tokens` is held), the roles allowed are those whose `models` globs match the model, and an allowed decision carries `held_tokens`. A `hold` with another operation is 400.",
    ].join('\n\n'),
    body: AuthorizeRequest,
    response: DecisionSchema,
    errors: ['IDEMPOTENCY_CONFLICT'],
    // A rate-limited decision (200 as every decision) says when to come back.
    headers: (d: Decision) =>
      !d.allowed && d.retry_after_ms !== undefined
        ? { 'Retry-After': String(Math.ceil(d.retry_after_ms / 1000)) }
        : undefined,
    handler: async ({ body, svc, caller, metrics }) => {
      const started = performance.now();
      const d = await verifiedByEngine(
        caller,
        body.agent_id,
        svc.engine,
        body.hold !== undefined && body.model !== undefined
          ? svc.guard.authorizeModelCall(body.agent_id, {
              model: body.model,
              inputTokens: body.hold.input_tokens,
              outputTokens: body.hold.output_tokens,
              choices: body.hold.choices,
              cacheWrite: body.hold.cache_write,
              requestId: body.request_id,
              ...callerKey(caller),
            })
          : svc.guard.checkPermission(body.agent_id, body.operation, {
              estimatedTokens: body.estimated_tokens,
              model: body.model,
              requestId: body.request_id,
              ...callerKey(caller),
            }),
      );
      metrics?.decision(
        {
          allowed: d.allowed,
          code: d.allowed ? null : d.error_code,
          role: d.budget_status?.role ?? null,
          // A replay (allowed or denied) decided nothing new.
          replayed: d.replayed,
          // Shadow mode: allowed, counted as would_deny with the code it let pass.
          wouldDeny: d.allowed ? (d.would_deny?.error_code ?? null) : null,
          // A pool's denial is counted by pool (tollgate_pool_denials_total).
          ...(d.allowed ? {} : { level: d.level, exceeded: d.exceeded, period: d.period }),
        },
        (performance.now() - started) / 1000,
      );
      return d;
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
      "Records what the operation really used (always: usage may push a budget past its limit, and the status says so) and frees the hold. Without `model`, the usage is priced at the hold's rates; with `model` (a model call's settle; it must be the hold's model, else 400), the server prices it from its policy's price table, cache reads and writes (`cache_*_tokens`, parts of `input_tokens`) and tiers included, and answers `model` and `priced_as`. It counts for the session current now. Usage above the hold is an overrun: recorded, never refused, answered in `overrun_tokens` and `overrun_cost` and added to the budget status's `tokens_overrun` and `cost_overrun`.",
      'Idempotent by reservation id: the same settle sent again records nothing and answers the recorded one (`already_closed`). A settle with other usage than the recorded one, or of a released hold, is 409 IDEMPOTENCY_CONFLICT, `details.recorded` saying what was recorded. A hold whose lease passed is still settled (a late settle).',
    ].join('\n\n'),
    body: SettleRequest,
    response: SettleResponseSchema,
    errors: ['RESERVATION_NOT_FOUND', 'IDEMPOTENCY_CONFLICT'],
    handler: async ({ body, svc, caller, metrics }) => {
      const s = await verifiedByEngine(
        caller,
        agentOfReservation({ body }),
        svc.engine,
        body.model === undefined
          ? svc.guard.settle(
              body.reservation_id,
              { inputTokens: body.input_tokens, outputTokens: body.output_tokens },
              body.result,
              callerKey(caller),
            )
          : svc.guard.settleModelCall(
              body.reservation_id,
              {
                model: body.model,
                usage: {
                  inputTokens: body.input_tokens,
                  outputTokens: body.output_tokens,
                  cacheReadTokens: body.cache_read_tokens ?? 0,
                  cacheWriteTokens: body.cache_write_tokens ?? 0,
                  cacheWrite1hTokens: body.cache_write_1h_tokens,
                  reasoningTokens: body.reasoning_tokens,
                },
                estimated: body.estimated,
                result: body.result,
              },
              callerKey(caller),
            ),
      );
      if (s.outcome === 'settled') {
        metrics?.settled?.({
          role: s.budget_status.role,
          overrunTokens: s.overrun_tokens,
          overrunMicros: usdToMicros(s.overrun_cost),
        });
        metrics?.spent?.({
          role: s.budget_status.role,
          costMicros: usdToMicros(s.cost),
          inputTokens: body.input_tokens,
          outputTokens: body.output_tokens,
        });
        if (body.model !== undefined) {
          metrics?.modelCall?.({
            model: body.model,
            costMicros: usdToMicros(s.cost),
            usage: {
              inputTokens: body.input_tokens,
              outputTokens: body.output_tokens,
              cacheReadTokens: body.cache_read_tokens,
              cacheWriteTokens: body.cache_write_tokens,
            },
          });
        }
      }
      return s;
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
    handler: ({ body, svc, caller }) =>
      verifiedByEngine(
        caller,
        agentOfReservation({ body }),
        svc.engine,
        svc.guard.release(body.reservation_id, callerKey(caller)),
      ),
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
    handler: async ({ body, svc, caller, metrics }) => {
      const u = await verifiedByEngine(
        caller,
        body.agent_id,
        svc.engine,
        svc.budget.recordUsage({
          agentId: body.agent_id,
          usageId: body.usage_id,
          operation: body.operation,
          inputTokens: body.input_tokens,
          outputTokens: body.output_tokens,
          model: body.model,
          result: body.result,
          ...callerKey(caller),
        }),
      );
      if (!u.replayed) {
        metrics?.spent?.({
          role: u.budget_status.role,
          costMicros: usdToMicros(u.cost),
          inputTokens: body.input_tokens,
          outputTokens: body.output_tokens,
        });
      }
      return u;
    },
  }),
];
