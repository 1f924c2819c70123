import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { testIntegration } from '../../examples/integration.js';
import { createApp } from '../../src/api/index.js';
import { TollgateClient } from '../../src/client/index.js';
import { createTollgate, type Tollgate } from '../../src/index.js';

const ADMIN = 'example-test-admin-token-42424242';
let tg: Tollgate;
let server: import('node:http').Server;
let baseUrl: string;

beforeAll(async () => {
  tg = await createTollgate({ redis: inject('redisUrl') });
  server = createApp({ tollgate: tg, adminToken: ADMIN }).listen(0);
  await new Promise((r) => server.once('listening', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await tg.close();
});

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
