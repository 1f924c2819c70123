import { TollgateError } from '../../errors.js';
import { defineRoute, type Route } from '../route.js';
import { AgentRecordSchema } from './agents.schemas.js';
import {
  CreatePoolRequest,
  DeletedPoolSchema,
  MoveAgentRequest,
  PoolDetailSchema,
  PoolListSchema,
  PoolParams,
  PoolStatusSchema,
  UpdatePoolRequest,
} from './pools.schemas.js';
import { AgentParams } from './shared.schemas.js';

const TAG = 'pools';

const LEVELS =
  'A pool is a shared budget (daily and monthly cost in its time zone, requests and tokens per minute) over the agents in it and the pools beneath it, up to three levels; an authorize checks the agent, then each pool from its own up to the root, all or nothing (docs/limits.md, "Pools").';

/** Pools (docs/limits.md, "Pools"): create, list, read, change, delete; an agent's pool. Admin only. */
export const poolRoutes: Route[] = [
  defineRoute({
    method: 'post',
    path: '/v1/pools',
    auth: 'admin',
    tag: TAG,
    summary: 'Create a pool',
    description: [
      LEVELS,
      'Absent limits are none; `time_zone` defaults to UTC. A `parent_id` must exist (404 NOT_FOUND, details `{pool_id}`), and a pool beneath a third-level pool is 400 VALIDATION_FAILED (details `{field: "parent_id"}`). A taken id is 409 CONFLICT (details `{reason: "pool_exists"}`); the same create sent again with the same settings answers the pool (201) and writes nothing, so a retry is safe.',
    ].join('\n\n'),
    body: CreatePoolRequest,
    status: 201,
    response: PoolStatusSchema,
    errors: ['CONFLICT', 'NOT_FOUND'],
    handler: ({ body, svc }) =>
      svc.pools.create(body.pool_id, {
        parentId: body.parent_id,
        dailyCostLimit: body.daily_cost_limit,
        monthlyCostLimit: body.monthly_cost_limit,
        requestsPerMinute: body.requests_per_minute,
        tokensPerMinute: body.tokens_per_minute,
        timeZone: body.time_zone,
      }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/pools',
    auth: 'admin',
    tag: TAG,
    summary: 'List pools',
    description: 'Every pool with its status, roots first, then by id.',
    response: PoolListSchema,
    handler: async ({ svc }) => ({ pools: await svc.pools.list() }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/pools/:id',
    auth: 'admin',
    tag: TAG,
    summary: 'Get a pool',
    description:
      'Its status (spend and limits of its local day and month, its rate limits) and the ids of the agents directly in it and of the pools directly beneath it.',
    params: PoolParams,
    response: PoolDetailSchema,
    errors: ['NOT_FOUND'],
    handler: async ({ params, svc }) =>
      (await svc.pools.get(params.id)) ??
      Promise.reject(
        new TollgateError('NOT_FOUND', `Pool ${params.id} not found`, { pool_id: params.id }),
      ),
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/pools/:id',
    auth: 'admin',
    tag: TAG,
    summary: 'Change a pool’s limits',
    description:
      'Sets the given limits (0 removes one) and the time zone (the day and month become local to it at once). The parent does not change.',
    params: PoolParams,
    body: UpdatePoolRequest,
    response: PoolStatusSchema,
    errors: ['NOT_FOUND'],
    handler: ({ params, body, svc }) =>
      svc.pools.update(params.id, {
        dailyCostLimit: body.daily_cost_limit,
        monthlyCostLimit: body.monthly_cost_limit,
        requestsPerMinute: body.requests_per_minute,
        tokensPerMinute: body.tokens_per_minute,
        timeZone: body.time_zone,
      }),
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/pools/:id',
    auth: 'admin',
    tag: TAG,
    summary: 'Delete a pool',
    description:
      'Deletes an empty pool and answers its last status. While agents or pools are in it: 409 CONFLICT, details `{reason: "pool_not_empty", agents, pools}` (how many), and nothing changes: move the agents out (`PUT /v1/agents/:id/pool`) and delete the pools beneath it first.',
    params: PoolParams,
    response: DeletedPoolSchema,
    errors: ['NOT_FOUND', 'CONFLICT'],
    handler: async ({ params, svc }) => ({
      pool_id: params.id,
      deleted: true as const,
      pool_status: await svc.pools.delete(params.id),
    }),
  }),
  defineRoute({
    method: 'put',
    path: '/v1/agents/:id/pool',
    auth: 'admin',
    tag: TAG,
    summary: 'Move an agent to a pool',
    description:
      'Puts the agent in `pool_id` (null: in no pool). Its open holds stay charged to the pools they were made under and settle, release or run out there, whichever shard the old and new pools live on (docs/limits.md, "Moves"); its next authorize checks the new pool and those above it. No such agent, or no such pool: 404 (details `{agent_id}` or `{pool_id}`).',
    params: AgentParams,
    body: MoveAgentRequest,
    response: AgentRecordSchema,
    errors: ['NOT_FOUND', 'CONFLICT'],
    handler: ({ params, body, svc }) => svc.identity.moveAgent(params.id, body.pool_id),
  }),
];
