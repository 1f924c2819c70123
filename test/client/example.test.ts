import { afterAll, beforeAll, expect, it } from 'vitest';
import { testIntegration } from '../../examples/integration.js';
import { TollgateClient } from '../../src/client/index.js';
import { ADMIN, type Api, startApi } from '../api/harness.js';

let api: Api;
let baseUrl: string;

beforeAll(async () => {
  api = await startApi();
  baseUrl = api.base;
});
afterAll(() => api.close());

it('examples/integration.ts runs the guide scenario against a real server', async () => {
  const logged: string[] = [];
  const r = await testIntegration(new TollgateClient({ baseUrl, token: ADMIN }), (l) =>
    logged.push(l),
  );
  expect(r.check1.allowed).toBe(true);
  expect(r.check2).toMatchObject({
    allowed: false,
    error_code: 'BUDGET_EXCEEDED',
    exceeded: 'session',
    reason: 'Session token limit reached. Used: 20000/100000',
  });
  expect(r.check3).toMatchObject({ allowed: false, error_code: 'RBAC_DENIED' });
  expect(r.status).toMatchObject({
    session: { tokens_used: 20000, tokens_reserved: 0 },
    daily: { cost_used: 0.2424 },
    operations_blocked: 2,
  });
  expect(logged).toContain('Test 3: RBAC denied'.replace(/^/, '\n'));
});
