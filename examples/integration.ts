/**
 * The integration guide's "Testing Integration" scenario, over HTTP with the
 * SDK: allowed operation, budget exceeded, RBAC denied, final status.
 *
 *   TOLLGATE_URL=http://localhost:8080 TOLLGATE_ADMIN_TOKEN=... npx tsx examples/integration.ts
 */
import { TollgateClient } from '../src/client/index.js';

export async function testIntegration(
  admin: TollgateClient,
  log: (label: string, value?: unknown) => void = console.log,
) {
  log('Testing RBAC + Budget Integration...\n');
  const agentId = `test-agent-${Date.now().toString(36)}`;
  const role = 'backend-dev';
  await admin.registerAgent({ agent_id: agentId, role });
  await admin.setLimits(agentId, { session_token_limit: 100000, daily_cost_limit: 10.0 });

  log('Test 1: Allowed operation');
  const check1 = await admin.authorize({
    agent_id: agentId,
    operation: 'read_file',
    estimated_tokens: 5000,
  });
  log('Result:', check1);
  if (check1.allowed) {
    await admin.settle({
      reservation_id: check1.reservation_id,
      input_tokens: 4800,
      output_tokens: 15200,
      result: 'success',
    });
  }

  log('\nTest 2: Budget exceeded');
  const check2 = await admin.authorize({
    agent_id: agentId,
    operation: 'read_file',
    estimated_tokens: 100000,
  });
  log('Result:', check2);

  log('\nTest 3: RBAC denied');
  const check3 = await admin.authorize({
    agent_id: agentId,
    operation: 'unauthorized_op',
    estimated_tokens: 1000,
  });
  log('Result:', check3);

  log('\nFinal Budget Status:');
  const status = await admin.getBudgetStatus(agentId);
  log('', status);
  return { agentId, check1, check2, check3, status };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const baseUrl = process.env.TOLLGATE_URL ?? 'http://localhost:8080';
  const token = process.env.TOLLGATE_ADMIN_TOKEN ?? '';
  testIntegration(new TollgateClient({ baseUrl, token })).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
