/**
 * What the pools API tests share (pools.test.ts, pools-levels.test.ts): the
 * engines they run on, and small calls that check their answers.
 */
import { expect } from 'vitest';
import { DecisionSchema, PoolStatusSchema } from '../../src/api/schemas.js';
import type { TollgateOptions } from '../../src/index.js';
import { uid } from '../support/engines.js';
import type { Api, Reply } from './harness.js';

export interface Mode {
  name: string;
  tollgate: TollgateOptions;
}

/** Embedded, and Redis (the run's private Redis, as the neighbouring API tests). */
export const MODES: Mode[] = [
  { name: 'embedded (MemoryEngine)', tollgate: { redis: undefined } },
  { name: 'Redis', tollgate: {} },
];

/** The answer's body, once its status is the one expected. */
export function ok(r: Reply, status = 200) {
  expect(r.status, r.text).toBe(status);
  return r.body;
}

/** Calls on `api()` (read when called: the server starts in a beforeAll). */
export function poolCalls(api: () => Api) {
  const post = (body: Record<string, unknown>) => api().call('POST', '/v1/pools', { body });
  /** A new pool (its id unique to this run) and its status. */
  const pool = async (fields: Record<string, unknown> = {}, prefix = 'pl') => {
    const id = uid(prefix);
    return PoolStatusSchema.parse(ok(await post({ pool_id: id, ...fields }), 201));
  };
  /** An authorize of `tokens` for read_file with the agent's key: the decision and the headers. */
  const authorize = async (key: string, agentId: string, tokens: number) => {
    const r = await api().call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: agentId, operation: 'read_file', estimated_tokens: tokens },
    });
    expect(r.status, r.text).toBe(200);
    return { decision: DecisionSchema.parse(r.body), headers: r.headers };
  };
  /** An agent (coder) in `poolId`, registered through POST /v1/agents with pool_id. */
  const member = async (poolId: string) => {
    const id = uid('pa');
    const r = await api().call('POST', '/v1/agents', {
      body: { agent_id: id, role: 'coder', pool_id: poolId },
    });
    const body = ok(r, 201);
    return { id, key: body.api_key as string };
  };
  return { post, pool, authorize, member };
}
