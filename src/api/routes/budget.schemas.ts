import { z } from 'zod';
import { MAX_LIMIT } from '../../engine/validate.js';
import { SpendRowSchema } from './audit.schemas.js';
import { PoolStatusSchema } from './pools.schemas.js';
import {
  AgentId,
  BudgetStatusSchema,
  isoTime,
  MonthlyCostLimit,
  named,
  PerMinute,
  SessionId,
  TimeZone,
  usd,
} from './shared.schemas.js';

/** The schemas of the budget routes (routes/budget.ts): limits, status, sessions, dashboard. */

// ── requests ───────────────────────────────────────────────────────────────

export const SessionParams = z.strictObject({ id: AgentId, sid: SessionId });

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
        .describe("USD per day, local to the agent's time zone (kept to the micro-dollar)."),
      requests_per_minute: PerMinute.describe(
        'Authorizes per minute (docs/limits.md); 0 removes the limit.',
      ),
      tokens_per_minute: PerMinute.describe(
        'Tokens held per minute, corrected by settles (docs/limits.md); 0 removes the limit.',
      ),
      monthly_cost_limit: MonthlyCostLimit,
      time_zone: TimeZone.optional(),
    })
    .refine((v) => Object.values(v).some((x) => x !== undefined), {
      message:
        'give session_token_limit, daily_cost_limit, requests_per_minute, tokens_per_minute, monthly_cost_limit or time_zone',
    }),
);

export const DashboardSpendQuery = z.strictObject({
  date: z.iso
    .date()
    .optional()
    .describe('UTC day, `YYYY-MM-DD`; default: today (UTC, the server’s clock).'),
});

/** GET /v1/dashboard/history: the range's length by default, and at most. */
export const HISTORY_DEFAULT_DAYS = 30;
export const HISTORY_MAX_DAYS = 92;

export const DashboardHistoryQuery = z.strictObject({
  from: z.iso
    .date()
    .optional()
    .describe(
      `First UTC day, \`YYYY-MM-DD\`; default: ${HISTORY_DEFAULT_DAYS - 1} days before \`to\` (${HISTORY_DEFAULT_DAYS} days in all).`,
    ),
  to: z.iso
    .date()
    .optional()
    .describe(
      `Last UTC day, \`YYYY-MM-DD\`, included; default: today (UTC, the server’s clock). At most ${HISTORY_MAX_DAYS} days from \`from\` to \`to\`.`,
    ),
});

// ── answers ────────────────────────────────────────────────────────────────

/** One row of the guide's budget dashboard, with the full status beside it. */
const DashboardRowSchema = z.strictObject({
  agent_id: z.string(),
  role: z.string(),
  session_utilization: z.string().describe('e.g. `12.5%`'),
  daily_utilization: z.string().describe('e.g. `3.0%`'),
  cost_used: z.string().describe('e.g. `$0.2424`'),
  operations_blocked: z.number().int(),
  status: z.enum(['ACTIVE', 'BLOCKED', 'SUSPENDED']),
  budget_status: BudgetStatusSchema,
});

export const DashboardSchema = named(
  'Dashboard',
  z.strictObject({
    agents: z.array(DashboardRowSchema),
    pools: z
      .array(PoolStatusSchema)
      .describe(
        'Every pool, roots first, then by id; an agent row names its pool in `budget_status.pool_id`.',
      ),
  }),
);

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

const DaySpendSchema = SpendRowSchema.omit({ key: true }).extend({
  date: z.string().describe('UTC day, YYYY-MM-DD.'),
});

export const DashboardHistorySchema = named(
  'DashboardHistory',
  z.strictObject({
    from: z.string().describe('First UTC day, YYYY-MM-DD.'),
    to: z.string().describe('Last UTC day, YYYY-MM-DD (included).'),
    total: usd.describe('Spend of the range, all roles (the exact value is `total_micros`).'),
    total_micros: z.number().int(),
    days: z
      .array(DaySpendSchema)
      .describe('Every day of the range, oldest first; a day without spend has zeros.'),
    by_role: z
      .array(SpendRowSchema)
      .describe(
        'Over the range, per the role each event carries (the agent’s role when it was charged); most costly first.',
      ),
    by_model: z.array(SpendRowSchema).describe('Over the range, per model; most costly first.'),
    by_operation: z
      .array(SpendRowSchema)
      .describe('Over the range, per operation; most costly first.'),
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

/** SUSPENDED (by an admin), BLOCKED (today's cost limit reached), else ACTIVE. */
export type DashboardRow = z.output<typeof DashboardRowSchema>;
export type Dashboard = z.output<typeof DashboardSchema>;
export type DashboardSpend = z.output<typeof DashboardSpendSchema>;
export type DashboardHistory = z.output<typeof DashboardHistorySchema>;
export type SessionStarted = z.output<typeof SessionStartedSchema>;
export type SessionSummary = z.output<typeof SessionSummarySchema>;
export type SetLimitsBody = z.input<typeof SetLimitsRequest>;
