import { z } from 'zod';
import { EVENT_TYPES } from '../../audit/event.js';
import { decodeCursor, MAX_PAGE } from '../../audit/store/queries.js';
import { SPEND_GROUPS } from '../../audit/store/spend.js';
import { AgentId, isoTime, named, usd } from './shared.schemas.js';
import { alertFields } from './webhooks.schemas.js';

/** The schemas of the audit routes (routes/audit.ts): the ledger, its backlog, spend by group. */

// ── the query ──────────────────────────────────────────────────────────────

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

// ── answers ────────────────────────────────────────────────────────────────

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
      requests_per_minute: nInt.describe('Rate limit, 0: none; null: not recorded (older event).'),
      tokens_per_minute: nInt.describe('Rate limit, 0: none; null: not recorded (older event).'),
      monthly_cost_limit: usd.nullable().describe('0: none; null: not recorded (older event).'),
      time_zone: nText.describe('IANA time zone; null: not recorded (older event, UTC).'),
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
      'Denials: AGENT_NOT_FOUND, AGENT_SUSPENDED, RBAC_DENIED, BUDGET_EXCEEDED, RATE_LIMITED.',
    ),
    exceeded: nText.describe(
      'BUDGET_EXCEEDED: `session`, `daily`, `monthly` or `pool`; RATE_LIMITED: `requests_per_minute` or `tokens_per_minute`. Also on a decision shadow mode let pass (`would_deny`).',
    ),
    would_deny: nText.describe(
      'A decision allowed by shadow mode (docs/operations.md, "Shadow mode"): the error code the rules would have denied it with (RBAC_DENIED, BUDGET_EXCEEDED, RATE_LIMITED); `exceeded` names the limit. Null on every other event.',
    ),
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
    estimated: z
      .boolean()
      .nullable()
      .describe(
        'settle: whether the usage is an estimate (a metered model call whose stream was cut before its usage arrived). Null on other events and on settles stored before the field existed.',
      ),
    priced_as: nText.describe(
      'settle of a metered model call: the model whose price was used (the policy’s default model for a model the price table does not know). Null when not given.',
    ),
    alert: z
      .strictObject(alertFields)
      .nullable()
      .describe(
        'budget_alert: the budget, the threshold crossed, the period and the spend (docs/operations.md, "Alerts"); null on other events.',
      ),
    policy: z
      .strictObject({
        version: z.number().int().describe('The version stored (1, 2, …).'),
        previous_version: z
          .number()
          .int()
          .describe('The version it replaced; 0: the policy file or the defaults.'),
        changes: z
          .array(
            z.strictObject({
              path: z.string().describe('The field, dotted (`roles.coder.daily_cost_limit`).'),
              before: z.unknown().optional().describe('Its value before; absent: none.'),
              after: z.unknown().optional().describe('Its value after; absent: removed.'),
            }),
          )
          .describe('The fields that changed (at most 200; `changes_total` counts them all).'),
        changes_total: z.number().int(),
      })
      .nullable()
      .describe(
        'policy_changed: the policy version set at runtime and what changed (docs/policy.md, "Changing the policy at runtime"); null on other events. Its `agent_id` is empty.',
      ),
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

// ── spend ──────────────────────────────────────────────────────────────────

export const SpendQuery = z
  .strictObject({
    from: TimeParam.optional().describe(
      'Events at or after this time, as in GET /v1/audit; default: today’s UTC midnight.',
    ),
    to: TimeParam.optional().describe(
      'Events before this time (exclusive); default: 24 hours after `from`.',
    ),
    group_by: z
      .enum(SPEND_GROUPS)
      .optional()
      .describe('What a row sums: `model` (the default), `role`, `operation` or `agent_id`.'),
    agent_id: AgentId.optional().describe(
      "Only this agent's events. An agent key: its own agent only (the default); another agent's id is 403.",
    ),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && q.to < q.from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'is before from' });
    }
  });

export const SpendRowSchema = z.strictObject({
  key: nText.describe(
    'The model, role, operation or agent id the events carry; null for those that carry none.',
  ),
  cost: usd.describe('USD charged (the exact value is `cost_micros`).'),
  cost_micros: z.number().int().describe('Micro-dollars charged, as stored.'),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  events: z.number().int().describe('Settle and usage events that charged it.'),
  estimated_events: z
    .number()
    .int()
    .describe('Of those, settles whose usage was an estimate (a stream cut before its usage).'),
});

export const SpendSchema = named(
  'Spend',
  z.strictObject({
    from: isoTime,
    to: isoTime,
    group_by: z.enum(SPEND_GROUPS),
    agent_id: z.string().nullable().describe('The agent the rows are of; null: every agent.'),
    rows: z.array(SpendRowSchema).describe('Most costly first.'),
  }),
);

export type AuditEventWire = z.output<typeof AuditEventSchema>;
export type AuditPageWire = z.output<typeof AuditPageSchema>;
export type AuditLagWire = z.output<typeof AuditLagSchema>;
export type SpendQueryWire = z.input<typeof SpendQuery>;
export type SpendWire = z.output<typeof SpendSchema>;
