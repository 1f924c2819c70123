import { z } from 'zod';
import { AGENT_ID, MODEL, OPERATION, REQUEST_ID, ROLE, SCOPED_ID } from '../engine/ids.js';
import { MAX_LIMIT, MAX_TOKENS } from '../engine/validate.js';

/**
 * Every schema of the HTTP API: what requests may carry (strict: unknown
 * fields are refused) and what responses hold. The routes parse with these,
 * and /openapi.json is generated from these; there is no second copy.
 * Named schemas are registered in `components` and become
 * `#/components/schemas/<id>` in the OpenAPI document.
 */
export const components = z.registry<{ id: string }>();

function named<T extends z.ZodType>(id: string, schema: T): T {
  components.add(schema, { id });
  return schema;
}

// ── scalars ────────────────────────────────────────────────────────────────

export const AgentId = z
  .string()
  .regex(AGENT_ID)
  .describe('Agent id: letters, digits, `_` and `-`, 1-64 characters, starting alphanumeric.');
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
    'Idempotency key: the same request id with the same request returns the same hold (24 h).',
  );
export const ReservationId = z
  .string()
  .regex(SCOPED_ID)
  .describe('Reservation id from an allowed decision: `<agent_id>.<16 hex>`.');
export const SessionId = z.string().regex(SCOPED_ID).describe('Session id: `<agent_id>.<16 hex>`.');
export const Tokens = z.number().int().min(0).max(MAX_TOKENS).describe('Token count.');
export const Result = z.enum(['success', 'failure']);

const METADATA_MAX_CHARS = 16_384;
const METADATA_MAX_DEPTH = 8;

/** Depth of a parsed JSON value, iteratively (a hostile body cannot overflow the stack). */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d > max) return true;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

export const Metadata = z
  .record(z.string().max(128), z.unknown())
  .superRefine((v, ctx) => {
    if (depthExceeds(v, METADATA_MAX_DEPTH)) {
      ctx.addIssue({ code: 'custom', message: `nested deeper than ${METADATA_MAX_DEPTH} levels` });
      return;
    }
    if (JSON.stringify(v).length > METADATA_MAX_CHARS) {
      ctx.addIssue({
        code: 'custom',
        message: `larger than ${METADATA_MAX_CHARS} characters as JSON`,
      });
    }
  })
  .describe(
    `Free-form JSON object (at most ${METADATA_MAX_CHARS} characters, ${METADATA_MAX_DEPTH} levels).`,
  );

// ── path, query ────────────────────────────────────────────────────────────

export const NoParams = z.strictObject({});
export const NoQuery = z.strictObject({});
export const NoBody = z.strictObject({});
export const AgentParams = z.strictObject({ id: AgentId });
export const SessionParams = z.strictObject({ id: AgentId, sid: SessionId });
export const ListAgentsQuery = z.strictObject({
  role: Role.optional().describe('Only agents of this role.'),
  status: z.enum(['active', 'suspended']).optional().describe('Only agents in this status.'),
});

// ── request bodies ─────────────────────────────────────────────────────────

export const RegisterAgentRequest = named(
  'RegisterAgentRequest',
  z.strictObject({
    agent_id: AgentId,
    role: Role,
    metadata: Metadata.optional(),
  }),
);

export const SetLimitsRequest = named(
  'SetLimitsRequest',
  z
    .strictObject({
      session_token_limit: z
        .number()
        .int()
        .min(0)
        .max(MAX_LIMIT)
        .optional()
        .describe('Tokens per session.'),
      daily_cost_limit: z
        .number()
        .min(0)
        .max(MAX_LIMIT / 1_000_000)
        .optional()
        .describe('USD per UTC day (kept to the micro-dollar).'),
    })
    .refine((v) => v.session_token_limit !== undefined || v.daily_cost_limit !== undefined, {
      message: 'give session_token_limit, daily_cost_limit or both',
    }),
);

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
    model: Model.optional().describe("Prices the usage; default: the hold's model."),
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
    operation: Operation.optional(),
    input_tokens: Tokens,
    output_tokens: Tokens,
    model: Model.optional(),
    result: Result.optional().describe('Default `success`.'),
  }),
);

// ── responses ──────────────────────────────────────────────────────────────

const isoTime = z.string().describe('ISO 8601 time, UTC.');
const usd = z.number().describe('USD.');

export const BudgetStatusSchema = named(
  'BudgetStatus',
  z.strictObject({
    agent_id: z.string(),
    role: z.string(),
    session: z.strictObject({
      session_id: z.string(),
      tokens_used: z.number().int(),
      tokens_reserved: z.number().int(),
      tokens_limit: z.number().int(),
      tokens_remaining: z.number().int(),
      utilization_pct: z.number(),
    }),
    daily: z.strictObject({
      date: z.string().describe('UTC day, YYYY-MM-DD.'),
      cost_used: usd,
      cost_reserved: usd,
      cost_limit: usd,
      cost_remaining: usd,
      utilization_pct: z.number(),
      resets_at: isoTime,
    }),
    operations_blocked: z.number().int(),
    is_session_exhausted: z.boolean(),
    is_daily_exhausted: z.boolean(),
  }),
);

export const AgentRecordSchema = named(
  'AgentRecord',
  z.strictObject({
    agent_id: z.string(),
    role: z.string(),
    status: z.enum(['active', 'suspended']),
    permissions: z.array(z.string()),
    session_id: z.string(),
    created_at: isoTime,
    metadata: z.record(z.string(), z.unknown()),
  }),
);

export const AgentWithKeySchema = named(
  'AgentWithKey',
  AgentRecordSchema.extend({
    api_key: z.string().describe('The agent key. Shown only in this response: keep it.'),
  }),
);

export const AgentListSchema = named(
  'AgentList',
  z.strictObject({ agents: z.array(AgentRecordSchema) }),
);

export const DashboardSchema = named(
  'Dashboard',
  z.strictObject({
    agents: z.array(
      z.strictObject({
        agent_id: z.string(),
        role: z.string(),
        session_utilization: z.string().describe('e.g. `12.5%`'),
        daily_utilization: z.string().describe('e.g. `3.0%`'),
        cost_used: z.string().describe('e.g. `$0.2424`'),
        operations_blocked: z.number().int(),
        status: z.enum(['ACTIVE', 'BLOCKED', 'SUSPENDED']),
        budget_status: BudgetStatusSchema,
      }),
    ),
  }),
);

export const VerifySchema = named(
  'Verification',
  z.strictObject({ valid: z.boolean(), reason: z.string().nullable() }),
);

export const DeletedSchema = named(
  'DeletedAgent',
  z.strictObject({
    agent_id: z.string(),
    deleted: z.literal(true),
    budget_status: BudgetStatusSchema,
  }),
);

export const SessionStartedSchema = named(
  'SessionStarted',
  z.strictObject({ session_id: z.string(), started_at: isoTime }),
);

export const SessionSummarySchema = named(
  'SessionSummary',
  z.strictObject({
    agent_id: z.string(),
    session_id: z.string(),
    started_at: isoTime,
    ended_at: isoTime,
    tokens_used: z.number().int(),
    cost_incurred: usd,
    operations_blocked: z.number().int(),
    daily_cost_used: usd,
    next_session_id: z.string().describe('The session that opened when this one ended.'),
    budget_status: BudgetStatusSchema,
  }),
);

export const DecisionSchema = named(
  'Decision',
  z.union([
    z.strictObject({
      allowed: z.literal(true),
      reservation_id: z.string(),
      expires_at: isoTime.describe('When the hold lapses if neither settled nor released.'),
      reason: z.null(),
      budget_status: BudgetStatusSchema,
    }),
    z.strictObject({
      allowed: z.literal(false),
      error_code: z.enum(['AGENT_NOT_FOUND', 'AGENT_SUSPENDED', 'RBAC_DENIED', 'BUDGET_EXCEEDED']),
      exceeded: z.enum(['session', 'daily']).optional(),
      reason: z.string(),
      suggestion: z.string().optional(),
      budget_status: BudgetStatusSchema.nullable(),
    }),
  ]),
);

export const SettleResponseSchema = named(
  'SettleResult',
  z.strictObject({
    outcome: z
      .enum(['settled', 'already_closed'])
      .describe('`already_closed`: settled or released before; nothing recorded this time.'),
    reservation_id: z.string(),
    cost: usd.describe('USD recorded by this settle.'),
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
  z.strictObject({ cost: usd, budget_status: BudgetStatusSchema }),
);

export const HealthSchema = named('Health', z.strictObject({ status: z.literal('ok') }));

export const ReadySchema = named(
  'Ready',
  z.strictObject({
    status: z.literal('ready'),
    engine: z.enum(['memory', 'redis']),
    policy: z.literal('loaded'),
  }),
);

export const OpenApiDocumentSchema = z
  .looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) })
  .describe('An OpenAPI 3.1 document.');

export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RESERVATION_NOT_FOUND',
  'CONFLICT',
  'IDEMPOTENCY_CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'STORE_UNAVAILABLE',
  'INTERNAL',
] as const;

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
