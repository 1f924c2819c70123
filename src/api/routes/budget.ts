import { TollgateError } from '../../errors.js';
import { defineRoute, type Route } from '../route.js';
import {
  AgentParams,
  BudgetStatusSchema,
  DashboardSchema,
  SessionParams,
  SessionStartedSchema,
  SessionSummarySchema,
  SetLimitsRequest,
} from '../schemas.js';

/** Limits, budget status and sessions of one agent; the fleet's dashboard rows. */
export const budgetRoutes: Route[] = [
  defineRoute({
    method: 'get',
    path: '/v1/dashboard',
    auth: 'admin',
    tag: 'budget',
    summary: 'Budget dashboard',
    description:
      'One row per agent, as the integration guide’s getBudgetDashboard: utilization, cost used today, operations blocked, ACTIVE / BLOCKED (daily limit reached) / SUSPENDED, and the full budget status.',
    response: DashboardSchema,
    handler: async ({ svc }) => ({ agents: await svc.budget.getBudgetDashboard() }),
  }),
  defineRoute({
    method: 'put',
    path: '/v1/agents/:id/budget',
    auth: 'admin',
    tag: 'budget',
    summary: 'Override an agent’s limits',
    description:
      'Sets the session token limit, the daily cost limit (USD), or both, in place of the role’s.',
    params: AgentParams,
    body: SetLimitsRequest,
    response: BudgetStatusSchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, body, svc }) =>
      svc.budget.setLimits(params.id, {
        sessionTokenLimit: body.session_token_limit,
        dailyCostLimit: body.daily_cost_limit,
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
    description: 'Opens a new session (a fresh session budget); the current one ends.',
    params: AgentParams,
    status: 201,
    response: SessionStartedSchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, svc }) => svc.identity.createSession(params.id),
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/agents/:id/sessions/:sid',
    auth: 'agent',
    agentOf: ({ params }) => params.id,
    tag: 'sessions',
    summary: 'End a session',
    description:
      'Ends the agent’s current session `sid` and returns its summary; a new session opens at once (`next_session_id`). A session that is not the current one: 404.',
    params: SessionParams,
    response: SessionSummarySchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, svc }) => svc.identity.endSession(params.id, params.sid),
  }),
];
