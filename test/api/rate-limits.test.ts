/**
 * Rate limits over HTTP (docs/limits.md): set through PUT /v1/agents/:id/budget,
 * shown in the budget status; a rate-limited POST /v1/authorize is 200 with the
 * decision (RATE_LIMITED, exceeded, level, retry_after_ms) and a `Retry-After`
 * header in seconds, rounded up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BudgetStatusSchema, DecisionSchema } from '../../src/api/schemas.js';
import { type Api, isError, startApi } from './harness.js';

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

describe('rate limits', () => {
  it('PUT sets them, GET shows them; bad values are 400', async () => {
    const { id, key } = await api.agent('coder');
    const plain = BudgetStatusSchema.parse(
      (await api.call('GET', `/v1/agents/${id}/budget`, { token: key })).body,
    );
    expect(plain.rate_limits).toBeNull();
    const put = await api.call('PUT', `/v1/agents/${id}/budget`, {
      body: { requests_per_minute: 2, tokens_per_minute: 100_000 },
    });
    expect(put.status).toBe(200);
    expect(BudgetStatusSchema.parse(put.body).rate_limits).toEqual({
      requests_per_minute: 2,
      tokens_per_minute: 100_000,
    });
    for (const bad of [{ requests_per_minute: -1 }, { tokens_per_minute: 1.5 }]) {
      const r = await api.call('PUT', `/v1/agents/${id}/budget`, { body: bad });
      expect(r.status).toBe(400);
      expect(isError(r, 'VALIDATION_FAILED')).toBe(true);
    }
  });

  it('POST /v1/agents takes them in place of the role limits; bad values are 400', async () => {
    const id = `rl-${Date.now().toString(36)}`;
    const r = await api.call('POST', '/v1/agents', {
      body: { agent_id: id, role: 'coder', requests_per_minute: 3, tokens_per_minute: 9_000 },
    });
    expect(r.status).toBe(201);
    const status = BudgetStatusSchema.parse(
      (await api.call('GET', `/v1/agents/${id}/budget`)).body,
    );
    expect(status.rate_limits).toEqual({ requests_per_minute: 3, tokens_per_minute: 9_000 });
    const bad = await api.call('POST', '/v1/agents', {
      body: { agent_id: `${id}-b`, role: 'coder', requests_per_minute: 0.5 },
    });
    expect(bad.status).toBe(400);
    expect(isError(bad, 'VALIDATION_FAILED')).toBe(true);
    expect((await api.call('GET', `/v1/agents/${id}-b`)).status).toBe(404);
  });

  it('a rate-limited authorize: 200, RATE_LIMITED, Retry-After in seconds', async () => {
    const { id, key } = await api.agent('coder');
    await api.call('PUT', `/v1/agents/${id}/budget`, { body: { requests_per_minute: 2 } });
    const ask = () =>
      api.call('POST', '/v1/authorize', {
        token: key,
        body: { agent_id: id, operation: 'read_file', estimated_tokens: 100 },
      });
    for (let k = 0; k < 2; k++) {
      const ok = await ask();
      expect(ok.status).toBe(200);
      expect(ok.body.allowed).toBe(true);
      expect(ok.headers.get('retry-after')).toBeNull();
    }
    const r = await ask();
    expect(r.status).toBe(200);
    const d = DecisionSchema.parse(r.body);
    expect(d).toMatchObject({
      allowed: false,
      error_code: 'RATE_LIMITED',
      exceeded: 'requests_per_minute',
      level: 'agent',
    });
    if (d.allowed) throw new Error('expected a denial');
    // 2 per minute: the next one 30 s after the first.
    expect(d.retry_after_ms).toBeGreaterThan(29_000);
    expect(d.retry_after_ms).toBeLessThanOrEqual(30_000);
    expect(r.headers.get('retry-after')).toBe(String(Math.ceil((d.retry_after_ms ?? 0) / 1000)));
    expect(d.budget_status?.operations_blocked).toBe(1);
  });
});
