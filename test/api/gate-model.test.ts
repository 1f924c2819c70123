/**
 * Model calls over HTTP: POST /v1/authorize with `operation: model_call`, a
 * `model` and a `hold` in tokens (the server prices it), and POST /v1/settle
 * with `model` and the usage's parts (the server prices them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecisionSchema, SettleResponseSchema } from '../../src/api/routes/gate.schemas.js';
import { type Api, isError, startApi } from './harness.js';

describe('model calls over HTTP', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi({
      tollgate: {
        policy: {
          roles: { coder: { max_output_tokens: 1000 } },
          models: {
            'priced-a': {
              input_per_million: 2,
              output_per_million: 10,
              cache_read_per_million: 0.5,
            },
          },
        },
      },
    });
  });
  afterAll(() => api.close());

  it('holds from tokens priced by the server, settles the usage with its parts', async () => {
    const { id, key } = await api.agent();
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: {
        agent_id: id,
        operation: 'model_call',
        model: 'priced-a',
        hold: { input_tokens: 1000 },
      },
    });
    expect(d.status).toBe(200);
    const decision = DecisionSchema.parse(d.body);
    if (!decision.allowed) throw new Error('denied');
    expect(decision).toMatchObject({
      model: 'priced-a',
      held_tokens: { input: 1000, output: 1000 },
    });
    // 1000 × $2/M + 1000 × $10/M
    expect(decision.budget_status.daily.cost_reserved).toBeCloseTo(0.012, 9);
    const s = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: decision.reservation_id,
        model: 'priced-a',
        input_tokens: 1000,
        output_tokens: 100,
        cache_read_tokens: 800,
        reasoning_tokens: 50,
        result: 'success',
      },
    });
    expect(s.status).toBe(200);
    // 200 × $2/M + 800 × $0.5/M + 100 × $10/M
    expect(SettleResponseSchema.parse(s.body)).toMatchObject({
      outcome: 'settled',
      cost: 0.0018,
      model: 'priced-a',
      priced_as: 'priced-a',
    });
  });

  it("refuses a settle naming another model than the hold's", async () => {
    const { id, key } = await api.agent();
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: {
        agent_id: id,
        operation: 'model_call',
        model: 'priced-a',
        hold: { input_tokens: 10, output_tokens: 10 },
      },
    });
    const s = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: d.body.reservation_id,
        model: 'gpt-4o',
        input_tokens: 10,
        output_tokens: 10,
        result: 'success',
      },
    });
    expect(s.status).toBe(400);
    expect(isError(s, 'VALIDATION_FAILED')).toBe(true);
  });

  it('refuses malformed model-call bodies with 400', async () => {
    const { id, key } = await api.agent();
    const rid = `${id}.0123456789abcdef`;
    const bad: [string, unknown][] = [
      ['/v1/authorize', { agent_id: id, operation: 'model_call', hold: { input_tokens: 1 } }],
      ['/v1/authorize', { agent_id: id, operation: 'read_file', hold: { input_tokens: 1 } }],
      [
        '/v1/authorize',
        {
          agent_id: id,
          operation: 'model_call',
          model: 'm',
          estimated_tokens: 5,
          hold: { input_tokens: 1 },
        },
      ],
      [
        '/v1/authorize',
        { agent_id: id, operation: 'model_call', model: 'm', hold: { input_tokens: 1, cost: 1 } },
      ],
      [
        '/v1/authorize',
        {
          agent_id: id,
          operation: 'model_call',
          model: 'm',
          hold: { input_tokens: 1, cache_write: '2h' },
        },
      ],
      [
        '/v1/settle',
        {
          reservation_id: rid,
          model: 'm',
          input_tokens: 5,
          output_tokens: 1,
          cache_read_tokens: 6,
          result: 'success',
        },
      ],
      [
        '/v1/settle',
        {
          reservation_id: rid,
          model: 'm',
          input_tokens: 5,
          output_tokens: 1,
          cache_write_tokens: 1,
          cache_write_1h_tokens: 2,
          result: 'success',
        },
      ],
      [
        '/v1/settle',
        {
          reservation_id: rid,
          model: 'm',
          input_tokens: 5,
          output_tokens: 1,
          reasoning_tokens: 2,
          result: 'success',
        },
      ],
      [
        '/v1/settle',
        {
          reservation_id: rid,
          input_tokens: 5,
          output_tokens: 1,
          cache_read_tokens: 1,
          result: 'success',
        },
      ],
      [
        '/v1/settle',
        {
          reservation_id: rid,
          input_tokens: 5,
          output_tokens: 1,
          cost_micros: 1,
          result: 'success',
        },
      ],
    ];
    for (const [path, body] of bad) {
      const r = await api.call('POST', path, { token: key, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(isError(r, 'VALIDATION_FAILED')).toBe(true);
    }
  });

  it('a role whose globs do not match the model is denied; an unknown model is priced at default', async () => {
    const { id, key } = await api.agent('researcher');
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: {
        agent_id: id,
        operation: 'model_call',
        model: 'unknown-x',
        hold: { input_tokens: 100, output_tokens: 100 },
      },
    });
    expect(d.body).toMatchObject({ allowed: true, model: 'unknown-x' });
    const s = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: d.body.reservation_id,
        model: 'unknown-x',
        input_tokens: 100,
        output_tokens: 100,
        estimated: true,
        result: 'success',
      },
    });
    expect(s.body).toMatchObject({ outcome: 'settled', cost: 0.0018, priced_as: 'default' });
    const other = await api.agent('nobody-role');
    const denied = await api.call('POST', '/v1/authorize', {
      token: other.key,
      body: {
        agent_id: other.id,
        operation: 'model_call',
        model: 'priced-a',
        hold: { input_tokens: 1, output_tokens: 1 },
      },
    });
    expect(denied.body).toMatchObject({
      allowed: false,
      error_code: 'RBAC_DENIED',
      model: 'priced-a',
    });
  });
});
