import { createTollgate } from '../../tollgate.js';
import type { Command } from '../remote.js';

/**
 * `tollgate demo`: the integration guide's "Testing Integration" scenario,
 * run for real: on the embedded engine, or on Redis when REDIS_URL is set.
 */
export const demo: Command = {
  spec: {
    usage: 'tollgate demo',
    description: [
      'Runs the integration guide\'s "Testing Integration" scenario (an allowed',
      'operation, a budget exceeded, an RBAC denial, the final status) on the embedded',
      'engine, or on Redis when REDIS_URL is set. Needs no server.',
    ].join('\n'),
    args: [],
    auth: 'local',
    example: 'tollgate demo --json | jq .final_budget_status',
  },
  async action({ out, env, json }) {
    const redisUrl = env.REDIS_URL || undefined;
    const tg = await createTollgate(redisUrl ? { redis: redisUrl } : {});
    try {
      const agentId = `test-agent-${Date.now().toString(36)}`;
      await tg.budget.initializeBudget(agentId, 'backend-dev', 100000, 10.0);
      const say = (text: string) => {
        if (!json) out.line(text);
      };
      const show = (value: unknown) => {
        if (!json) out.json(value);
        return value;
      };
      say(
        `Testing RBAC + Budget Integration (${redisUrl ? `Redis at ${redisUrl}` : 'embedded engine: single process, not shared'})\n`,
      );
      say('Test 1: Allowed operation');
      const check1 = await tg.guard.checkPermission(agentId, 'read_file', {
        estimatedTokens: 5000,
      });
      show(check1);
      if (check1.allowed) {
        await tg.guard.recordOperation(agentId, 'read_file', {
          inputTokens: 4800,
          outputTokens: 15200,
        });
      }
      say('\nTest 2: Budget exceeded');
      const check2 = show(
        await tg.guard.checkPermission(agentId, 'read_file', { estimatedTokens: 100000 }),
      );
      say('\nTest 3: RBAC denied');
      const check3 = show(
        await tg.guard.checkPermission(agentId, 'unauthorized_op', { estimatedTokens: 1000 }),
      );
      say('\nFinal Budget Status:');
      const final = show(await tg.budget.getBudgetStatus(agentId));
      if (json) {
        out.json({
          allowed_operation: check1,
          budget_exceeded: check2,
          rbac_denied: check3,
          final_budget_status: final,
        });
      }
    } finally {
      await tg.close();
    }
  },
};
