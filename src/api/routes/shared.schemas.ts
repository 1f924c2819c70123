import { z } from 'zod';
import { AGENT_ID, MODEL, OPERATION, REQUEST_ID, ROLE, SCOPED_ID } from '../../engine/ids.js';
import { isTimeZone } from '../../engine/periods.js';
import { MAX_LIMIT, MAX_PER_MINUTE, MAX_TOKENS } from '../../engine/validate.js';
import { ERROR_CODES } from '../../errors.js';

/**
 * What the schemas of every route group share (the groups' own schemas sit
 * beside their routes, `routes/<group>.schemas.ts`): the registry of named
 * schemas, the scalars, the budget status and the error envelope.
 *
 * The schemas are the one source of the wire: requests are parsed with them
 * (strict: unknown fields are refused), the wire types of the library and the
 * SDK are their outputs (`z.output`), and /openapi.json is generated from
 * them. Named schemas are registered in `components` and become
 * `#/components/schemas/<id>` in the OpenAPI document.
 */
export const components = z.registry<{ id: string }>();

export function named<T extends z.ZodType>(id: string, schema: T): T {
  components.add(schema, { id });
  return schema;
}

// ── scalars ────────────────────────────────────────────────────────────────

export const AgentId = z
  .string()
  .regex(AGENT_ID)
  .describe('Agent id: letters, digits, `_` and `-`, 1-64 characters, starting alphanumeric.');
export const PoolId = z
  .string()
  .regex(AGENT_ID)
  .describe(
    'Pool id: letters, digits, `_` and `-`, 1-64 characters, starting alphanumeric (pools and agents are separate namespaces).',
  );
export const Role = z
  .string()
  .regex(ROLE)
  .describe(
    'Role name (the policy names the roles; others get the `default` budget and no permissions).',
  );
export const Operation = z
  .string()
  .regex(OPERATION)
  .describe('Operation name, as in the policy (e.g. `code_generation`).');
export const Model = z
  .string()
  .regex(MODEL)
  .describe('Model name for pricing; unknown models are priced at the policy `default` rates.');
export const RequestId = z
  .string()
  .regex(REQUEST_ID)
  .describe(
    'Idempotency key: the same request id with the same request answers the same decision (`replayed: true`) for an hour; with another request, 409 IDEMPOTENCY_CONFLICT.',
  );
export const UsageId = z
  .string()
  .regex(REQUEST_ID)
  .describe(
    'Idempotency key of this usage, made by the caller before it sends: recording it again with the same values answers the recorded cost (`replayed: true`) and counts nothing twice (for an hour); with other values, 409 IDEMPOTENCY_CONFLICT.',
  );
export const ReservationId = z
  .string()
  .regex(SCOPED_ID)
  .describe('Reservation id from an allowed decision: `<agent_id>.<16 hex>`.');
export const SessionId = z
  .string()
  .regex(SCOPED_ID)
  .describe('Session id: `<agent_id>.<16 lowercase hex>`.');
export const Tokens = z.number().int().min(0).max(MAX_TOKENS).describe('Token count.');
export const Result = z.enum(['success', 'failure']);

/** A time in a response. */
export const isoTime = z.string().describe('ISO 8601 time, UTC.');
/** Money in a response. */
export const usd = z.number().describe('USD.');
/** An IANA time zone name the server's runtime knows (an unknown one is VALIDATION_FAILED). */
export const TimeZone = z
  .string()
  .max(64)
  .refine((v) => isTimeZone(v), { message: 'expected an IANA time zone name, e.g. Europe/Berlin' })
  .describe(
    "IANA time zone of the agent's day and month, e.g. `Europe/Berlin` (docs/limits.md); `UTC` by default.",
  );
/** A rate limit, per minute (docs/limits.md); 0: none. */
export const PerMinute = z.number().int().min(0).max(MAX_PER_MINUTE).optional();
/** USD a month, local to the agent's zone; 0: none. */
export const MonthlyCostLimit = z
  .number()
  .min(0)
  .max(MAX_LIMIT / 1_000_000)
  .optional()
  .describe(
    "USD per month, local to the agent's time zone (kept to the micro-dollar); 0 removes the limit.",
  );

// ── path, query, body: none ───────────────────────────────────────────────

export const NoParams = z.strictObject({});
export const NoQuery = z.strictObject({});
export const NoBody = z.strictObject({});
export const AgentParams = z.strictObject({ id: AgentId });

// ── the budget status, in most answers ────────────────────────────────────

export const BudgetStatusSchema = named(
  'BudgetStatus',
  z.strictObject({
    agent_id: z.string(),
    role: z.string(),
    pool_id: z
      .string()
      .nullable()
      .describe(
        'The pool the agent is in (docs/limits.md, "Pools"); null: none. The pools above it limit it too.',
      ),
    session: z.strictObject({
      session_id: z.string(),
      tokens_used: z.number().int(),
      tokens_reserved: z.number().int(),
      tokens_limit: z.number().int(),
      tokens_remaining: z.number().int(),
      utilization_pct: z.number(),
      tokens_overrun: z
        .number()
        .int()
        .describe("Tokens settled above their holds' estimates in this session."),
    }),
    daily: z.strictObject({
      date: z.string().describe("The agent's local date (its `time_zone`), YYYY-MM-DD."),
      cost_used: usd,
      cost_reserved: usd,
      cost_limit: usd,
      cost_remaining: usd,
      utilization_pct: z.number(),
      resets_at: isoTime.describe(
        'The next local midnight (the first instant of the next local day).',
      ),
      cost_overrun: usd.describe("USD settled above their holds' cost today."),
      time_zone: z.string().describe("The agent's IANA time zone (`UTC` by default)."),
    }),
    monthly: z
      .strictObject({
        month: z.string().describe("The agent's local month, YYYY-MM."),
        cost_used: usd,
        cost_reserved: usd,
        cost_limit: usd.nullable().describe('Null: no monthly limit.'),
        cost_remaining: usd.nullable().describe('Null: no monthly limit.'),
        utilization_pct: z.number().describe('0 when there is no monthly limit.'),
        resets_at: isoTime.describe('The first instant of the next local month.'),
      })
      .describe("This month's spend, local to the agent's time zone (docs/limits.md)."),
    operations_blocked: z.number().int(),
    rate_limits: z
      .strictObject({
        requests_per_minute: z.number().int().nullable(),
        tokens_per_minute: z.number().int().nullable(),
      })
      .nullable()
      .describe("The agent's rate limits (docs/limits.md), each null when not set; null: none."),
    is_session_exhausted: z.boolean(),
    is_daily_exhausted: z.boolean(),
    is_monthly_exhausted: z.boolean().describe('False when there is no monthly limit.'),
    is_over_limit: z
      .boolean()
      .describe(
        'Used past a limit (session tokens used > limit, or today’s cost > limit): the next authorize is denied.',
      ),
  }),
);

/** The budget status contract (ARCHITECTURE.md, "Contracts"), snake_case as in the integration guide. */
export type BudgetStatus = z.output<typeof BudgetStatusSchema>;

// ── errors ─────────────────────────────────────────────────────────────────

export { ERROR_CODES };

export const ErrorSchema = named(
  'Error',
  z.strictObject({
    error: z.strictObject({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  }),
);
