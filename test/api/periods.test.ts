/**
 * Periods over HTTP (docs/limits.md): a time zone and a monthly cost limit set
 * through PUT /v1/agents/:id/budget or given at POST /v1/agents, read back in
 * the budget status (daily.time_zone, monthly.cost_limit); a zone the runtime
 * does not know is 400 VALIDATION_FAILED and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BudgetStatusSchema } from '../../src/api/schemas.js';
import { type Api, isError, startApi } from './harness.js';

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

const status = async (id: string, token: string) =>
  BudgetStatusSchema.parse((await api.call('GET', `/v1/agents/${id}/budget`, { token })).body);

describe('periods over HTTP', () => {
  it('PUT sets the zone and the monthly limit; GET shows them; 0 removes the limit', async () => {
    const { id, key } = await api.agent('coder');
    const plain = await status(id, key);
    expect(plain.daily.time_zone).toBe('UTC');
    expect(plain.monthly.cost_limit).toBeNull();

    const put = await api.call('PUT', `/v1/agents/${id}/budget`, {
      body: { time_zone: 'America/New_York', monthly_cost_limit: 90.5 },
    });
    expect(put.status).toBe(200);
    const s = await status(id, key);
    expect(s.daily.time_zone).toBe('America/New_York');
    expect(s.monthly.cost_limit).toBe(90.5);
    expect(BudgetStatusSchema.parse(put.body).monthly.cost_limit).toBe(90.5);
    // The local month (YYYY-MM) of New York now.
    const month = new Intl.DateTimeFormat('en-CA', {
      timeZone: 'America/New_York',
      year: 'numeric',
      month: '2-digit',
    }).format(new Date());
    expect(s.monthly.month).toBe(month);

    await api.call('PUT', `/v1/agents/${id}/budget`, { body: { monthly_cost_limit: 0 } });
    const none = await status(id, key);
    expect(none.monthly.cost_limit).toBeNull();
    expect(none.daily.time_zone).toBe('America/New_York');
  });

  it('an unknown zone or a bad monthly limit is 400 and changes nothing', async () => {
    const { id, key } = await api.agent('coder');
    for (const bad of [
      { time_zone: 'Europe/Atlantis' },
      { time_zone: '' },
      { monthly_cost_limit: -1 },
    ]) {
      const r = await api.call('PUT', `/v1/agents/${id}/budget`, { body: bad });
      expect(r.status).toBe(400);
      expect(isError(r, 'VALIDATION_FAILED')).toBe(true);
    }
    const s = await status(id, key);
    expect(s.daily.time_zone).toBe('UTC');
    expect(s.monthly.cost_limit).toBeNull();
  });

  it('POST /v1/agents takes time_zone and monthly_cost_limit', async () => {
    const id = `tz-${Math.random().toString(16).slice(2, 10)}`;
    const r = await api.call('POST', '/v1/agents', {
      body: { agent_id: id, role: 'coder', time_zone: 'Asia/Kolkata', monthly_cost_limit: 12 },
    });
    expect(r.status).toBe(201);
    const s = await status(id, r.body.api_key as string);
    expect(s.daily.time_zone).toBe('Asia/Kolkata');
    expect(s.monthly.cost_limit).toBe(12);
    const bad = await api.call('POST', '/v1/agents', {
      body: { agent_id: `${id}x`, role: 'coder', time_zone: 'Nowhere/Land' },
    });
    expect(bad.status).toBe(400);
    expect(isError(bad, 'VALIDATION_FAILED')).toBe(true);
  });
});
