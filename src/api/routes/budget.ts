import type { HourlySpend, SpendHistory } from '../../audit/store/types.js';
import { DAY_MS } from '../../engine/clock.js';
import { microsToUsd } from '../../engine/money.js';
import { isTollgateError, TollgateError } from '../../errors.js';
import { PublicDetailsError, validationError } from '../errors.js';
import { defineRoute, type Route } from '../route.js';
import { notConfigured, spendRowToWire, storeFailure } from './audit.js';
import {
  DashboardHistoryQuery,
  DashboardHistorySchema,
  DashboardSchema,
  DashboardSpendQuery,
  DashboardSpendSchema,
  HISTORY_DEFAULT_DAYS,
  HISTORY_MAX_DAYS,
  SessionParams,
  SessionStartedSchema,
  SessionSummarySchema,
  SetLimitsRequest,
  StartSessionRequest,
} from './budget.schemas.js';
import { AgentParams, BudgetStatusSchema } from './shared.schemas.js';

/** Limits, budget status and sessions of one agent; the fleet's dashboard rows. */
export const budgetRoutes: Route[] = [
  defineRoute({
    method: 'get',
    path: '/v1/dashboard',
    auth: 'admin',
    tag: 'budget',
    summary: 'Budget dashboard',
    description:
      'One row per agent, as the integration guide’s getBudgetDashboard: utilization, cost used today, operations blocked, ACTIVE / BLOCKED (daily limit reached) / SUSPENDED, and the full budget status; and every pool’s status (docs/limits.md, "Pools").',
    response: DashboardSchema,
    handler: async ({ svc }) => {
      const [agents, pools] = await Promise.all([
        svc.budget.getBudgetDashboard(),
        svc.pools.list(),
      ]);
      return { agents, pools };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/dashboard/spend',
    auth: 'admin',
    tag: 'budget',
    summary: 'Spend of a day by hour and role',
    description: [
      'From the audit store: the settle and usage events of the UTC day, summed per UTC hour and per the role each event carries. The dashboard page draws its chart from it.',
      'Events count once drained (see GET /v1/audit/lag). No store configured: 503 STORE_UNAVAILABLE with details `{store: "not configured"}`.',
    ].join('\n\n'),
    query: DashboardSpendQuery,
    response: DashboardSpendSchema,
    handler: async ({ query, tollgate }) => {
      const store = tollgate.store;
      if (store?.spendByHour === undefined) {
        throw new PublicDetailsError(
          'STORE_UNAVAILABLE',
          'No audit store is configured on this server (Redis mode: set DATABASE_URL, or run tollgate serve --with-worker)',
          { store: 'not configured' },
        );
      }
      const date = query.date ?? new Date().toISOString().slice(0, 10);
      const dayStart = Math.floor(Date.parse(date) / DAY_MS) * DAY_MS;
      let rows: HourlySpend[];
      try {
        rows = await store.spendByHour(dayStart);
      } catch (e) {
        if (isTollgateError(e)) throw e;
        throw new TollgateError('STORE_UNAVAILABLE', 'The audit store is not answering');
      }
      return spendToWire(date, rows);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/dashboard/history',
    auth: 'admin',
    tag: 'budget',
    summary: 'Spend of a range of days by day, role, model and operation',
    description: [
      `From the audit store: the settle and usage events of the UTC days \`from\` to \`to\` (both included; by default the last ${HISTORY_DEFAULT_DAYS} days, today included), summed per UTC day, and over the range per role (the role each event carries), model and operation. At most ${HISTORY_MAX_DAYS} days; \`from\` after \`to\`, or a longer range: 400 VALIDATION_FAILED. The dashboard page's history shows it.`,
      'Events count once drained (see GET /v1/audit/lag). No store configured: 503 STORE_UNAVAILABLE with details `{store: "not configured"}`; a read canceled at the store’s statement timeout: 503 with details `{store: "read timeout", timeout_ms}`.',
    ].join('\n\n'),
    query: DashboardHistoryQuery,
    response: DashboardHistorySchema,
    handler: async ({ query, tollgate }) => {
      const store = tollgate.store;
      if (store?.spendHistory === undefined) throw notConfigured();
      const to =
        query.to === undefined ? Math.floor(Date.now() / DAY_MS) * DAY_MS : Date.parse(query.to);
      const from =
        query.from === undefined
          ? to - (HISTORY_DEFAULT_DAYS - 1) * DAY_MS
          : Date.parse(query.from);
      if (from > to) throw validationError([{ path: 'query.from', message: 'is after to' }]);
      if ((to - from) / DAY_MS + 1 > HISTORY_MAX_DAYS) {
        throw validationError([
          { path: 'query.from', message: `the range is at most ${HISTORY_MAX_DAYS} days` },
        ]);
      }
      let h: SpendHistory;
      try {
        h = await store.spendHistory({ from, to: to + DAY_MS });
      } catch (e) {
        throw storeFailure(e);
      }
      return historyToWire(from, to, h);
    },
  }),
  defineRoute({
    method: 'put',
    path: '/v1/agents/:id/budget',
    auth: 'admin',
    tag: 'budget',
    summary: 'Override an agent’s limits',
    description:
      'Sets the session token limit, the daily cost limit (USD), the rate limits (`requests_per_minute`, `tokens_per_minute`; 0 removes one), the monthly cost limit (`monthly_cost_limit`, USD; 0 removes it), the time zone of the day and month (`time_zone`), or any of them, in place of the role’s.',
    params: AgentParams,
    body: SetLimitsRequest,
    response: BudgetStatusSchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, body, svc }) =>
      svc.budget.setLimits(params.id, {
        sessionTokenLimit: body.session_token_limit,
        dailyCostLimit: body.daily_cost_limit,
        requestsPerMinute: body.requests_per_minute,
        tokensPerMinute: body.tokens_per_minute,
        monthlyCostLimit: body.monthly_cost_limit,
        timeZone: body.time_zone,
      }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/agents/:id/budget',
    auth: 'agent',
    agentOf: ({ params }) => params.id,
    tag: 'budget',
    summary: 'Get an agent’s budget status',
    params: AgentParams,
    response: BudgetStatusSchema,
    errors: ['NOT_FOUND'],
    handler: async ({ params, svc }) => {
      const s = await svc.budget.getBudgetStatus(params.id);
      if (!s) {
        throw new TollgateError('NOT_FOUND', `Agent ${params.id} not found`, {
          agent_id: params.id,
        });
      }
      return s;
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/agents/:id/sessions',
    auth: 'agent',
    agentOf: ({ params }) => params.id,
    tag: 'sessions',
    summary: 'Start a session',
    description:
      'Opens a new session (a fresh session budget); the current one ends. Holds still open move into the new session. With a `session_id` made by the caller (the SDK always sends one), the request sent again while that session is current answers the same session (201, the same body) and ends nothing.',
    params: AgentParams,
    body: StartSessionRequest,
    status: 201,
    response: SessionStartedSchema,
    errors: ['NOT_FOUND'],
    handler: async ({ params, body, svc }) => {
      if (body.session_id !== undefined && !body.session_id.startsWith(`${params.id}.`)) {
        throw validationError([{ path: 'body.session_id', message: 'names another agent' }]);
      }
      const { session_id, started_at } = await svc.identity.createSession(
        params.id,
        body.session_id,
      );
      return { session_id, started_at };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/agents/:id/sessions/:sid',
    auth: 'agent',
    agentOf: ({ params }) => params.id,
    tag: 'sessions',
    summary: 'End a session',
    description:
      'Ends the agent’s current session `sid` and returns its summary; a new session opens at once (`next_session_id`). The session ended last, sent again (a retry), answers its summary again and ends nothing. Any other session that is not the current one: 404.',
    params: SessionParams,
    response: SessionSummarySchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, svc }) => svc.identity.endSession(params.id, params.sid),
  }),
];

/** Rows of spendByHour as the chart wants them: per role, 24 hours, USD (summed in micro-dollars). */
function spendToWire(date: string, rows: readonly HourlySpend[]) {
  const byRole = new Map<string, number[]>();
  let total = 0;
  for (const r of rows) {
    const role = r.role === '' ? '(none)' : r.role;
    let hours = byRole.get(role);
    if (hours === undefined) {
      hours = new Array<number>(24).fill(0);
      byRole.set(role, hours);
    }
    if (r.hour >= 0 && r.hour < 24) hours[r.hour] = (hours[r.hour] ?? 0) + r.costMicros;
    total += r.costMicros;
  }
  return {
    date,
    total: microsToUsd(total),
    roles: [...byRole]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([role, hours]) => ({
        role,
        total: microsToUsd(hours.reduce((a, b) => a + b, 0)),
        hours: hours.map(microsToUsd),
      })),
  };
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The store's history as the page wants it: every day of [from, to] (zeros where none), USD and micro-dollars. */
function historyToWire(from: number, to: number, h: SpendHistory) {
  const byDay = new Map(h.days.map((d) => [d.day, d]));
  const days = [];
  let total = 0;
  for (let day = from; day <= to; day += DAY_MS) {
    const d = byDay.get(day);
    const micros = d?.costMicros ?? 0;
    total += micros;
    days.push({
      date: isoDay(day),
      cost: microsToUsd(micros),
      cost_micros: micros,
      input_tokens: d?.inputTokens ?? 0,
      output_tokens: d?.outputTokens ?? 0,
      events: d?.events ?? 0,
      estimated_events: d?.estimatedEvents ?? 0,
    });
  }
  return {
    from: isoDay(from),
    to: isoDay(to),
    total: microsToUsd(total),
    total_micros: total,
    days,
    by_role: h.byRole.map(spendRowToWire),
    by_model: h.byModel.map(spendRowToWire),
    by_operation: h.byOperation.map(spendRowToWire),
  };
}
