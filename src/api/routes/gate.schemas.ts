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

/** The operation of a model call (src/policy/names.ts MODEL_CALL). */
const MODEL_CALL = 'model_call';

const CacheWrite = z
  .enum(['none', '5m', '1h'])
  .describe(
    'The longest prompt-cache write the request asks for (Anthropic `cache_control`): every input token may be a cache write, so the hold takes the dearer of input and cache-write pricing. Default `none`.',
  );

export const ModelCallHold = named(
  'ModelCallHold',
  z
    .strictObject({
      input_tokens: Tokens.describe('Input tokens of the request, counted by the caller.'),
      output_tokens: Tokens.optional().describe(
        "The request's output limit times its choices; absent: the request sets none, and the role's `max_output_tokens` (times `choices`) is held.",
      ),
      choices: z
        .number()
        .int()
        .min(1)
        .max(128)
        .optional()
        .describe(
          'Choices the role’s output cap is held for when `output_tokens` is absent (chat’s `n`). Default 1.',
        ),
      cache_write: CacheWrite.optional(),
    })
    .describe(
      "A model call's hold in tokens (with `operation: model_call`): the server prices it with its policy's price table (the model's real rates, tiers and cache-write rates).",
    ),
);

export const AuthorizeRequest = named(
  'AuthorizeRequest',
  z
    .strictObject({
      agent_id: AgentId,
      operation: Operation,
      estimated_tokens: z
        .number()
        .int()
        .min(1)
        .max(MAX_TOKENS)
        .optional()
        .describe(
          "Tokens to hold; default: the policy's estimate for the operation. Not with `hold`.",
        ),
      model: Model.optional().describe(
        'Model name for pricing; required with `operation: model_call` (its roles are those whose `models` globs match it). Unknown models are priced at the policy `default` rates.',
      ),
      hold: ModelCallHold.optional(),
      request_id: RequestId.optional(),
    })
    .superRefine((b, ctx) => {
      if (b.operation === MODEL_CALL && b.model === undefined) {
        ctx.addIssue({ code: 'custom', path: ['model'], message: 'required with model_call' });
      }
      if (b.hold !== undefined && b.operation !== MODEL_CALL) {
        ctx.addIssue({ code: 'custom', path: ['hold'], message: 'only with model_call' });
      }
      if (b.hold !== undefined && b.estimated_tokens !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['estimated_tokens'],
          message: 'not with hold (the hold gives the tokens)',
        });
      }
    }),
);

const MODEL_PARTS = [
  'cache_read_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'reasoning_tokens',
  'estimated',
] as const;

export const SettleRequest = named(
  'SettleRequest',
  z
    .strictObject({
      reservation_id: ReservationId,
      input_tokens: Tokens.describe('Every input token, cached ones included.'),
      output_tokens: Tokens.describe('Every output token, reasoning included.'),
      model: Model.optional().describe(
        "A model call's settle: the hold's model (another one is 400 VALIDATION_FAILED). The usage is then priced by the server from its price table: cache reads and writes at their rates, tiers by the input tokens. Absent: priced at the hold's rates.",
      ),
      cache_read_tokens: Tokens.optional().describe(
        'Part of `input_tokens` read from the prompt cache (with `model`).',
      ),
      cache_write_tokens: Tokens.optional().describe(
        'Part of `input_tokens` written to the prompt cache (with `model`).',
      ),
      cache_write_1h_tokens: Tokens.optional().describe(
        'Part of `cache_write_tokens` written with a one-hour lifetime (with `model`).',
      ),
      reasoning_tokens: Tokens.optional().describe(
        'Part of `output_tokens` spent reasoning, priced as output (with `model`).',
      ),
      estimated: z
        .boolean()
        .optional()
        .describe(
          "The usage was not seen (a stream cut before it) and these are the hold's tokens (with `model`); the settle event says so.",
        ),
      result: Result,
    })
    .superRefine((b, ctx) => {
      const part = (path: string, message: string) =>
        ctx.addIssue({ code: 'custom', path: [path], message });
      const read = b.cache_read_tokens ?? 0;
      const write = b.cache_write_tokens ?? 0;
      if (read + write > b.input_tokens) {
        part('cache_read_tokens', 'cache reads and writes are part of input_tokens: above it');
      }
      if ((b.cache_write_1h_tokens ?? 0) > write) {
        part('cache_write_1h_tokens', 'part of cache_write_tokens: above it');
      }
      if ((b.reasoning_tokens ?? 0) > b.output_tokens) {
        part('reasoning_tokens', 'part of output_tokens: above it');
      }
      if (b.model === undefined) {
        for (const key of MODEL_PARTS) if (b[key] !== undefined) part(key, 'only with model');
      }
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

const DecisionModel = z
  .string()
  .describe(
    'The model the decision was priced for: the model named (for `model_call`, always), else the policy model whose rates were used (`default` for a model the policy does not price).',
  );

export const WouldDenySchema = named(
  'WouldDeny',
  z
    .strictObject({
      error_code: z.enum(['RBAC_DENIED', 'BUDGET_EXCEEDED', 'RATE_LIMITED']),
      exceeded: z
        .enum(['session', 'daily', 'monthly', 'pool', 'requests_per_minute', 'tokens_per_minute'])
        .optional()
        .describe('The limit that would have denied, as a denial names it.'),
      pool_id: z.string().optional().describe("A pool's limit: the pool."),
    })
    .describe(
      'Shadow mode (docs/operations.md, "Shadow mode"): the agent\'s role or id is in shadow, so this denial was let pass: the decision is allowed and held as any other, audited and counted as `would_deny`. A suspended agent is never let pass.',
    ),
);

const HeldTokens = z
  .strictObject({ input: z.number().int(), output: z.number().int() })
  .describe(
    "A model call's hold in tokens (output: the request's limit, else the role's cap): what an estimated settle charges.",
  );

export const DecisionSchema = named(
  'Decision',
  z.union([
    z.strictObject({
      allowed: z.literal(true),
      reservation_id: z.string(),
      expires_at: isoTime.describe('When the hold lapses if neither settled nor released.'),
      reason: z.null(),
      model: DecisionModel,
      held_tokens: HeldTokens.optional(),
      would_deny: WouldDenySchema.optional(),
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
      error_code: z.enum([
        'AGENT_NOT_FOUND',
        'AGENT_SUSPENDED',
        'RBAC_DENIED',
        'BUDGET_EXCEEDED',
        'RATE_LIMITED',
      ]),
      exceeded: z
        .enum(['session', 'daily', 'monthly', 'pool', 'requests_per_minute', 'tokens_per_minute'])
        .optional()
        .describe(
          "The limit that denied: a budget (`BUDGET_EXCEEDED`: the agent's `session`, `daily` or `monthly`, or a `pool`'s cost limit) or a rate limit (`RATE_LIMITED`, the agent's or a pool's: see `level`).",
        ),
      level: z
        .string()
        .optional()
        .describe(
          '`BUDGET_EXCEEDED` and `RATE_LIMITED`: whose limit denied: `agent` (the agent\'s own), or the id of the pool (docs/limits.md, "Pools").',
        ),
      pool_id: z
        .string()
        .optional()
        .describe(
          "`exceeded: 'pool'`: the pool whose cost limit denied (the agent's pool or one above it).",
        ),
      period: z
        .enum(['daily', 'monthly'])
        .optional()
        .describe(
          "`exceeded: 'pool'`: which of the pool's cost limits denied (in the pool's time zone).",
        ),
      retry_after_ms: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe(
          '`RATE_LIMITED`: ms until the rate limits would allow this request (HTTP `Retry-After` gives it in seconds, rounded up). A hold above `tokens_per_minute` never fits.',
        ),
      reason: z.string(),
      suggestion: z.string().optional(),
      model: DecisionModel,
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
    model: z.string().optional().describe("A model call's settle: the model settled."),
    priced_as: z
      .string()
      .optional()
      .describe(
        "A model call's settle: the model whose price was used (the price table's id; `default` for a model it does not know).",
      ),
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
