import { z } from 'zod';
import { EVENT_TYPES } from '../audit/event.js';
import { decodeCursor, MAX_PAGE } from '../audit/store/queries.js';
import { AGENT_ID, MODEL, OPERATION, REQUEST_ID, ROLE, SCOPED_ID } from '../engine/ids.js';
import { MAX_LIMIT, MAX_TOKENS } from '../engine/validate.js';
import { API_KEY, agentOfKey } from '../identity/api-key.js';

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
    'Idempotency key: the same request id with the same request answers the same decision (`replayed: true`) for an hour; with another request, 409 IDEMPOTENCY_CONFLICT.',
  );
export const UsageId = z
  .string()
  .regex(REQUEST_ID)
  .describe(
    'Idempotency key of this usage, made by the caller before it sends: recording it again with the same values answers the recorded cost (`replayed: true`) and counts nothing twice (for an hour); with other values, 409 IDEMPOTENCY_CONFLICT.',
  );
export const ApiKey = z
  .string()
  .max(111)
  .regex(API_KEY)
  .describe(
    'An agent key made by the caller, shaped as the server makes them: `tg_<agent_id>.<secret>`, the secret 256 random bits in base64url (43 characters, no padding).',
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

/** A time in a query: ISO 8601 (with `Z` or an offset; or a date, UTC midnight) or ms since the epoch. */
const ISO_TIME = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);
export const TimeParam = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    if (/^\d{1,16}$/.test(v)) {
      const ms = Number(v);
      if (Number.isSafeInteger(ms)) return ms;
    } else if (ISO_TIME.safeParse(v).success) {
      const ms = Date.parse(v);
      if (Number.isFinite(ms)) return ms;
    }
    ctx.addIssue({
      code: 'custom',
      message: 'expected an ISO 8601 time (e.g. 2025-06-01T12:00:00Z) or ms since the epoch',
    });
    return z.NEVER;
  });

export const DEFAULT_AUDIT_PAGE = 100;

export const AuditQuery = z
  .strictObject({
    agent_id: AgentId.optional().describe(
      "Only this agent's events. An agent key: its own agent only (the default); another agent's id is 403.",
    ),
    type: z.enum(EVENT_TYPES).optional().describe('Only events of this type.'),
    incarnations: z
      .enum(['current', 'all'])
      .optional()
      .describe(
        'With an agent: `current` (the default) shows only the events of the agent as it is now registered (an agent deleted and registered again: its earlier events are left out); `all` shows every event of the id.',
      ),
    allowed: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .optional()
      .describe('Only decisions that were allowed (`true`) or denied (`false`).'),
    from: TimeParam.optional().describe(
      'Events at or after this time: ISO 8601 (`2025-06-01T12:00:00Z`, `2025-06-01`) or ms since the epoch.',
    ),
    to: TimeParam.optional().describe('Events before this time (exclusive); as `from`.'),
    cursor: z
      .string()
      .max(256)
      .refine(
        (v) => {
          try {
            decodeCursor(v);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'not a cursor of this API (use next_cursor as given)' },
      )
      .optional()
      .describe("The previous page's `next_cursor`: the page after it (same filters)."),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, { message: `expected an integer from 1 to ${MAX_PAGE}` })
      .transform(Number)
      .pipe(
        z
          .number()
          .int()
          .min(1, { message: `expected an integer from 1 to ${MAX_PAGE}` })
          .max(MAX_PAGE, { message: `expected an integer from 1 to ${MAX_PAGE}` }),
      )
      .optional()
      .describe(`Events per page, 1-${MAX_PAGE} (default ${DEFAULT_AUDIT_PAGE}).`),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && q.to < q.from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'is before from' });
    }
  });

// ── request bodies ─────────────────────────────────────────────────────────

export const RegisterAgentRequest = named(
  'RegisterAgentRequest',
  z
    .strictObject({
      agent_id: AgentId,
      role: Role,
      metadata: Metadata.optional(),
      api_key: ApiKey.optional().describe(
        'The agent key, made by the caller (default: the server makes one). Only its digest is stored. A registration sent again with the same key answers the same agent (201, the same body) and writes nothing; so a retry is safe.',
      ),
    })
    .superRefine((v, ctx) => {
      if (v.api_key !== undefined && agentOfKey(v.api_key) !== v.agent_id) {
        ctx.addIssue({ code: 'custom', path: ['api_key'], message: 'names another agent' });
      }
    }),
);

export const StartSessionRequest = named(
  'StartSessionRequest',
  z.strictObject({
    session_id: SessionId.optional().describe(
      "The new session's id, made by the caller (`<agent_id>.<16 lowercase hex>`, of this agent; default: the server makes one). Sent again while that session is current, it answers the same session and ends nothing; so a retry is safe.",
    ),
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
      tokens_overrun: z
        .number()
        .int()
        .describe("Tokens settled above their holds' estimates in this session."),
    }),
    daily: z.strictObject({
      date: z.string().describe('UTC day, YYYY-MM-DD.'),
      cost_used: usd,
      cost_reserved: usd,
      cost_limit: usd,
      cost_remaining: usd,
      utilization_pct: z.number(),
      resets_at: isoTime,
      cost_overrun: usd.describe("USD settled above their holds' cost today."),
    }),
    operations_blocked: z.number().int(),
    is_session_exhausted: z.boolean(),
    is_daily_exhausted: z.boolean(),
    is_over_limit: z
      .boolean()
      .describe(
        'Used past a limit (session tokens used > limit, or today’s cost > limit): the next authorize is denied.',
      ),
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

export const DashboardSpendQuery = z.strictObject({
  date: z.iso
    .date()
    .optional()
    .describe('UTC day, `YYYY-MM-DD`; default: today (UTC, the server’s clock).'),
});

export const DashboardSpendSchema = named(
  'DashboardSpend',
  z.strictObject({
    date: z.string().describe('UTC day, YYYY-MM-DD.'),
    total: usd.describe('Spend of the day, all roles.'),
    roles: z
      .array(
        z.strictObject({
          role: z.string().describe('`(none)` for events that carry no role.'),
          total: usd,
          hours: z.array(usd).length(24).describe('USD charged in each UTC hour, 00 to 23.'),
        }),
      )
      .describe('Roles with any spend that day, by name.'),
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

export const HealthSchema = named('Health', z.strictObject({ status: z.literal('ok') }));

// ── audit ──────────────────────────────────────────────────────────────────

const nText = z.string().nullable();
const nInt = z.number().int().nullable();

export const AuditAgentStateSchema = named(
  'AuditAgentState',
  z
    .strictObject({
      role: z.string(),
      status: z.enum(['active', 'suspended']),
      session_id: z.string(),
      session_started_at: isoTime,
      session_token_limit: z.number().int(),
      daily_cost_limit: usd,
      created_at: isoTime,
      metadata: z.record(z.string(), z.unknown()),
    })
    .describe("The agent's state after the event. The key's digest is never shown."),
);

export const AuditEventSchema = named(
  'AuditEvent',
  z.strictObject({
    v: z.number().int().describe('Event schema version.'),
    event_id: z.string().describe('UUIDv7 (time-ordered).'),
    at: isoTime.describe('When the engine recorded it (Redis time in Redis mode).'),
    type: z.enum(EVENT_TYPES),
    agent_id: z.string(),
    actor: nText.describe('Who called: `admin`, `agent` or `library`.'),
    session_id: nText,
    role: nText,
    operation: nText,
    allowed: z.boolean().nullable().describe('Decisions: allowed or denied.'),
    error_code: nText.describe(
      'Denials: AGENT_NOT_FOUND, AGENT_SUSPENDED, RBAC_DENIED, BUDGET_EXCEEDED.',
    ),
    exceeded: nText.describe('BUDGET_EXCEEDED: `session` or `daily`.'),
    estimated_tokens: nInt,
    input_tokens: nInt,
    output_tokens: nInt,
    cost: usd.nullable().describe('USD (the exact value is `cost_micros`).'),
    cost_micros: nInt.describe('Micro-dollars, as stored.'),
    model: nText,
    reservation_id: nText,
    request_id: nText,
    result: nText,
    session_utilization: z.number().nullable().describe('Percent, after the event.'),
    daily_utilization: z.number().nullable().describe('Percent, after the event.'),
    tokens_used: nInt.describe("session_ended: the session's tokens."),
    operations_blocked: nInt.describe("session_ended: the session's denials."),
    session_started_at: isoTime.nullable(),
    state: AuditAgentStateSchema.nullable(),
    overrun_tokens: nInt.describe("settle: tokens used above the hold's estimate (0 within it)."),
    overrun_cost: usd
      .nullable()
      .describe("settle: USD above the hold's cost (the exact value is `overrun_cost_micros`)."),
    overrun_cost_micros: nInt.describe("settle: micro-dollars above the hold's cost, as stored."),
  }),
);

export const AuditPageSchema = named(
  'AuditPage',
  z.strictObject({
    events: z.array(AuditEventSchema).describe('Newest first.'),
    next_cursor: z
      .string()
      .optional()
      .describe('Pass as `cursor` for the next page; absent on the last page.'),
  }),
);

export const ShardLagSchema = z.strictObject({
  shard: z.number().int(),
  backlog: z.number().int().describe('Events not yet in the store.'),
  pending: z.number().int().describe('Of those, read by a drain and not yet acknowledged.'),
  oldest_age_ms: z.number().int().describe('Age of the oldest undrained event; 0 when none.'),
  dead_letters: z.number().int().describe('Entries that could not be stored (need a look).'),
});

export const AuditLagSchema = named(
  'AuditLag',
  z.strictObject({
    engine: z.enum(['memory', 'redis']),
    backlog: z.number().int().describe('Undrained events, all shards.'),
    oldest_age_ms: z.number().int().describe('Age of the oldest undrained event; 0 when none.'),
    pending: z.number().int(),
    dead_letters: z.number().int(),
    shards: z.array(ShardLagSchema),
    drain: z
      .strictObject({
        drained: z.number().int(),
        inserted: z.number().int(),
        rejected: z.number().int(),
        failures: z.number().int().describe('Store failures since the last success (0: healthy).'),
        last_error: z.string().nullable(),
        last_success_at: isoTime.nullable(),
      })
      .nullable()
      .describe(
        'Embedded mode with a store: the in-process drain. Null in Redis mode (the worker drains) and in embedded mode without a store.',
      ),
    measured_at: isoTime,
  }),
);

export const AuditLagUnavailableSchema = named(
  'AuditLagUnavailable',
  z.strictObject({ error: z.string().describe('Why the backlog could not be read.') }),
);

export const DrainHealthSchema = named(
  'DrainHealth',
  z
    .strictObject({
      status: z
        .enum(['ok', 'degraded', 'unknown'])
        .describe(
          '`degraded`: some shard has events waiting whose oldest is `stalled_after_ms` old or more (its drain has not advanced for that long); `unknown`: the backlog could not be read.',
        ),
      stalled_after_ms: z.number().int(),
      degraded: z
        .array(
          z.strictObject({
            shard: z.number().int(),
            backlog: z.number().int(),
            oldest_age_ms: z.number().int(),
          }),
        )
        .describe('The degraded shards (empty when none).'),
    })
    .describe(
      'Whether the audit drain keeps up, from the outboxes (every API process reads the same). Reported, never a reason for 503: see docs/recovery.md.',
    ),
);

/** Every time this process found a Redis shard without its ready marker (docs/recovery.md). */
export const ShardRecoveriesSchema = named(
  'ShardRecoveries',
  z.strictObject({
    total: z.number().int().describe('Shards found without their ready marker since the start.'),
    recent: z
      .array(
        z.strictObject({
          shard: z.number().int(),
          at: z.string().describe('When (ISO 8601).'),
          outcome: z
            .enum(['restored', 'unrestored'])
            .describe('`restored` from the durable store; `unrestored`: no store was configured.'),
          restored: z.number().int().describe('Agents restored.'),
        }),
      )
      .describe('The last ones, oldest first (at most 64).'),
  }),
);

export const ReadySchema = named(
  'Ready',
  z.strictObject({
    status: z.literal('ready'),
    engine: z.enum(['memory', 'redis']),
    policy: z.literal('loaded'),
    drain: DrainHealthSchema,
    shard_recoveries: ShardRecoveriesSchema.optional().describe(
      'Redis: every time this process found a shard without its ready marker (Redis lost the shard, or a new deployment), and what was restored.',
    ),
    audit: z
      .union([AuditLagSchema, AuditLagUnavailableSchema])
      .describe('The audit backlog (reported, never a reason for 503).'),
  }),
);

export type AuditEventWire = z.output<typeof AuditEventSchema>;
export type AuditPageWire = z.output<typeof AuditPageSchema>;
export type AuditLagWire = z.output<typeof AuditLagSchema>;
export type DrainHealthWire = z.output<typeof DrainHealthSchema>;
export type ShardRecoveriesWire = z.output<typeof ShardRecoveriesSchema>;

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
