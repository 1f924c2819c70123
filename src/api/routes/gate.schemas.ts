import { z } from 'zod';
import { MAX_TOKENS } from '../../engine/validate.js';
import {
  AgentId,
  BudgetStatusSchema,
  isoTime,
  Model,
  named,
  Operation,
  RequestId,
  ReservationId,
  Result,
  Tokens,
  UsageId,
  usd,
} from './shared.schemas.js';

/** The schemas of the gate routes (routes/gate.ts): authorize, settle, release, usage. */

// ── requests ───────────────────────────────────────────────────────────────

export const AuthorizeRequest = named(
  'AuthorizeRequest',
  z.strictObject({
    agent_id: AgentId,
    operation: Operation,
    estimated_tokens: z
      .number()
      .int()
      .min(1)
      .max(MAX_TOKENS)
      .optional()
      .describe("Tokens to hold; default: the policy's estimate for the operation."),
    model: Model.optional(),
    request_id: RequestId.optional(),
  }),
);

export const SettleRequest = named(
  'SettleRequest',
  z.strictObject({
    reservation_id: ReservationId,
    input_tokens: Tokens,
    output_tokens: Tokens,
    model: Model.optional().describe(
      "Accepted and ignored: a settle is priced at the hold's model (fixed when it was authorized).",
    ),
    result: Result,
  }),
);

export const ReleaseRequest = named(
  'ReleaseRequest',
  z.strictObject({ reservation_id: ReservationId }),
);

export const UsageRequest = named(
  'UsageRequest',
  z.strictObject({
    agent_id: AgentId,
    usage_id: UsageId.optional(),
    operation: Operation.optional(),
    input_tokens: Tokens,
    output_tokens: Tokens,
    model: Model.optional(),
    result: Result.optional().describe('Default `success`.'),
  }),
);

// ── answers ────────────────────────────────────────────────────────────────

const Replayed = z
  .boolean()
  .describe(
    'True when this answers an earlier decision of the same request id: nothing new was held or counted.',
  );

export const DecisionSchema = named(
  'Decision',
  z.union([
    z.strictObject({
      allowed: z.literal(true),
      reservation_id: z.string(),
      expires_at: isoTime.describe('When the hold lapses if neither settled nor released.'),
      reason: z.null(),
      replayed: Replayed,
      reservation_state: z
        .enum(['open', 'settled', 'released', 'expired'])
        .describe(
          'Where the hold stands now: `open` (a fresh decision, or a replay of a hold still held), `settled`, `released`, or `expired` (its lease passed).',
        ),
      budget_status: BudgetStatusSchema,
    }),
    z.strictObject({
      allowed: z.literal(false),
      error_code: z.enum(['AGENT_NOT_FOUND', 'AGENT_SUSPENDED', 'RBAC_DENIED', 'BUDGET_EXCEEDED']),
      exceeded: z.enum(['session', 'daily']).optional(),
      reason: z.string(),
      suggestion: z.string().optional(),
      replayed: Replayed,
      budget_status: BudgetStatusSchema.nullable(),
    }),
  ]),
);

export const SettleResponseSchema = named(
  'SettleResult',
  z.strictObject({
    outcome: z
      .enum(['settled', 'already_closed'])
      .describe(
        '`already_closed`: the same settle was recorded before, or the hold was released: nothing recorded this time. A settle with other usage than the recorded one, or of a released hold, is 409 IDEMPOTENCY_CONFLICT.',
      ),
    reservation_id: z.string(),
    cost: usd.describe(
      "USD recorded for this reservation's usage, priced at the hold's model (`already_closed` after a settle: the recorded cost).",
    ),
    overrun_tokens: z
      .number()
      .int()
      .describe("Tokens used above the hold's estimate (0 within it). Recorded, never refused."),
    overrun_cost: usd.describe("USD above the hold's cost (0 within it)."),
    budget_status: BudgetStatusSchema,
  }),
);

export const ReleaseResponseSchema = named(
  'ReleaseResult',
  z.strictObject({
    outcome: z.enum(['released', 'already_closed']),
    reservation_id: z.string(),
    budget_status: BudgetStatusSchema,
  }),
);

export const UsageResponseSchema = named(
  'UsageResult',
  z.strictObject({
    cost: usd,
    replayed: z
      .boolean()
      .describe('True when the usage id was recorded before: nothing counted again.'),
    budget_status: BudgetStatusSchema,
  }),
);

/**
 * The decision contract (ARCHITECTURE.md, "Contracts"): what checkPermission
 * and POST /v1/authorize answer. `replayed`: this answers an earlier decision
 * of the same request id (nothing new was held or counted);
 * `reservation_state`: where the hold stands now ('open' for a fresh decision).
 */
export type Decision = z.output<typeof DecisionSchema>;
/** A settle of a hold: what POST /v1/settle answers. */
export type SettleAnswer = z.output<typeof SettleResponseSchema>;
/** A release of a hold: what POST /v1/release answers. */
export type ReleaseAnswer = z.output<typeof ReleaseResponseSchema>;
/** Usage recorded with nothing held: what POST /v1/usage answers. */
export type UsageAnswer = z.output<typeof UsageResponseSchema>;
export type AuthorizeBody = z.input<typeof AuthorizeRequest>;
export type SettleBody = z.input<typeof SettleRequest>;
export type UsageBody = z.input<typeof UsageRequest>;
