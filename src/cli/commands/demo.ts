import { createTollgate } from '../../tollgate.js';
import type { Out } from '../output.js';

/**
 * The integration guide's "Testing Integration" scenario, run for real: on
 * the embedded engine, or on Redis when REDIS_URL is set.
 */
export async function demo(out: Out, redisUrl: string | undefined): Promise<number> {
  const tg = await createTollgate(redisUrl ? { redis: redisUrl } : {});
  try {
    out.line(
      `Testing RBAC + Budget Integration (${redisUrl ? `Redis at ${redisUrl}` : 'embedded engine: single process, not shared'})\n`,
    );
    const agentId = `test-agent-${Date.now().toString(36)}`;
    await tg.budget.initializeBudget(agentId, 'backend-dev', 100000, 10.0);

    out.line('Test 1: Allowed operation');
    const check1 = await tg.guard.checkPermission(agentId, 'read_file', { estimatedTokens: 5000 });
    out.json(check1);
    if (check1.allowed) {
      await tg.guard.recordOperation(agentId, 'read_file', {
        inputTokens: 4800,
        outputTokens: 15200,
      });
    }

    out.line('\nTest 2: Budget exceeded');
    out.json(await tg.guard.checkPermission(agentId, 'read_file', { estimatedTokens: 100000 }));

    out.line('\nTest 3: RBAC denied');
    out.json(await tg.guard.checkPermission(agentId, 'unauthorized_op', { estimatedTokens: 1000 }));

    out.line('\nFinal Budget Status:');
    out.json(await tg.budget.getBudgetStatus(agentId));
    return 0;
  } finally {
    await tg.close();
  }
}
