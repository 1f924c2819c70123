import { TollgateError } from '../../errors.js';
import { defineRoute, type Route } from '../route.js';
import {
  AgentListSchema,
  AgentRecordSchema,
  AgentWithKeySchema,
  DeletedSchema,
  ListAgentsQuery,
  RegisterAgentRequest,
  UpdateAgentRequest,
  VerifySchema,
} from './agents.schemas.js';
import { AgentParams } from './shared.schemas.js';

const TAG = 'agents';

function agentNotFound(agentId: string): TollgateError {
  return new TollgateError('NOT_FOUND', `Agent ${agentId} not found`, { agent_id: agentId });
}

/** Registry and lifecycle: POST/GET /v1/agents, GET/PATCH /v1/agents/:id, verify, suspend, resume, keys, delete. */
export const agentRoutes: Route[] = [
  defineRoute({
    method: 'post',
    path: '/v1/agents',
    auth: 'admin',
    tag: TAG,
    summary: 'Register an agent',
    description: [
      'Creates the agent with its role’s budget and a first session. The response carries the agent’s API key: it is shown only here.',
      'With `pool_id` the agent joins that pool, which must exist (404 NOT_FOUND, nothing written); the pool and those above it limit it too (docs/limits.md, "Pools").',
      'The caller may make the key (`api_key`, shaped as the server makes them; the SDK always does): then a registration sent again with the same key (a retry whose first answer was lost) finds the agent that key created and answers 201 with the same body, writing nothing. An existing agent with another key (or none given): 409 CONFLICT.',
    ].join('\n\n'),
    body: RegisterAgentRequest,
    status: 201,
    response: AgentWithKeySchema,
    errors: ['CONFLICT', 'NOT_FOUND'],
    handler: async ({ body, svc }) => {
      // A replay answers as the first run did (201, the same body): `replayed` is not sent.
      const { replayed: _, ...rec } = await svc.identity.registerAgent(
        body.agent_id,
        body.role,
        body.metadata ?? {},
        {
          timeZone: body.time_zone,
          monthlyCostLimit: body.monthly_cost_limit,
          requestsPerMinute: body.requests_per_minute,
          tokensPerMinute: body.tokens_per_minute,
          poolId: body.pool_id,
        },
        body.api_key,
      );
      return rec;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/agents',
    auth: 'admin',
    tag: TAG,
    summary: 'List agents',
    query: ListAgentsQuery,
    response: AgentListSchema,
    handler: async ({ query, svc }) => {
      const all = await svc.identity.getAllAgents();
      return {
        agents: all.filter(
          (a) =>
            (query.role === undefined || a.role === query.role) &&
            (query.status === undefined || a.status === query.status) &&
            (query.pool_id === undefined || a.pool_id === query.pool_id),
        ),
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/agents/:id',
    auth: 'agent',
    agentOf: ({ params }) => params.id,
    tag: TAG,
    summary: 'Get an agent',
    params: AgentParams,
    response: AgentRecordSchema,
    errors: ['NOT_FOUND'],
    handler: async ({ params, svc }) =>
      (await svc.identity.getAgent(params.id)) ?? Promise.reject(agentNotFound(params.id)),
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/agents/:id',
    auth: 'admin',
    tag: TAG,
    summary: 'Change an agent’s role or metadata',
    description:
      'Sets the role (the agent takes the role’s permissions and limits from the policy, as at registration: limits set with PUT /v1/agents/:id/budget are replaced), the metadata (replaced as a whole), or both, in one write and one `agent_updated` audit event. The same change again writes nothing.',
    params: AgentParams,
    body: UpdateAgentRequest,
    response: AgentRecordSchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, body, svc }) =>
      svc.identity.updateAgent(params.id, { role: body.role, metadata: body.metadata }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/agents/:id/verify',
    auth: 'agent',
    agentOf: ({ params }) => params.id,
    tag: TAG,
    summary: 'Verify an agent',
    description:
      '`valid` is true when the agent exists and is active (and, for an agent key, the key is its own).',
    params: AgentParams,
    response: VerifySchema,
    handler: ({ params, svc, caller }) =>
      svc.identity.verifyAgent(params.id, caller?.kind === 'agent' ? caller.token : undefined),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/agents/:id/suspend',
    auth: 'admin',
    tag: TAG,
    summary: 'Suspend an agent',
    description: 'Every authorize for a suspended agent is denied (AGENT_SUSPENDED) until resumed.',
    params: AgentParams,
    response: AgentRecordSchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, svc }) => svc.identity.suspendAgent(params.id),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/agents/:id/resume',
    auth: 'admin',
    tag: TAG,
    summary: 'Resume an agent',
    params: AgentParams,
    response: AgentRecordSchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, svc }) => svc.identity.resumeAgent(params.id),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/agents/:id/keys',
    auth: 'admin',
    tag: TAG,
    summary: 'Rotate an agent’s key',
    description: 'Issues a new key, shown only here; the old key stops working at once.',
    params: AgentParams,
    response: AgentWithKeySchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, svc }) => svc.identity.rotateKey(params.id),
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/agents/:id',
    auth: 'admin',
    tag: TAG,
    summary: 'Delete an agent',
    description: 'Removes the agent, its holds and its key; returns its last budget status.',
    params: AgentParams,
    response: DeletedSchema,
    errors: ['NOT_FOUND'],
    handler: async ({ params, svc }) => ({
      agent_id: params.id,
      deleted: true as const,
      budget_status: await svc.identity.deleteAgent(params.id),
    }),
  }),
];
