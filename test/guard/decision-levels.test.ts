/**
 * The decision's level (src/guard/decision.ts): a budget or rate denial says
 * whose limit denied, `agent` or a pool's id; a pool's cost limit adds
 * `exceeded: 'pool'`, `pool_id` and `period`, and its reason and suggestion
 * name the pool. The agent's own monthly limit stays `monthly`.
 */
import { describe, expect, it } from 'vitest';
import { DecisionSchema } from '../../src/api/schemas.js';
import type { AuthorizeResult, EngineStatus } from '../../src/engine/types.js';
import { toDecision } from '../../src/guard/decision.js';

const NOW = Date.UTC(2026, 4, 12, 10, 0, 0);

const status: EngineStatus = {
  agentId: 'coder-1',
  role: 'coder',
  status: 'active',
  sessionId: 'coder-1.0123456789abcdef',
  sessionStartedMs: NOW - 60_000,
  sessionTokensUsed: 100,
  sessionTokensReserved: 0,
  sessionTokenLimit: 80_000,
  sessionCostMicros: 1000,
  dailyCostMicros: 1000,
  dailyReservedMicros: 0,
  dailyLimitMicros: 8_000_000,
  operationsBlocked: 1,
  sessionOverrunTokens: 0,
  dailyOverrunMicros: 0,
  requestsPerMinute: 0,
  tokensPerMinute: 0,
  timeZone: 'UTC',
  day: 20260512,
  month: 202605,
  monthlyCostMicros: 1000,
  monthlyOverrunMicros: 0,
  monthlyLimitMicros: 1000,
  poolId: 'web',
  nowMs: NOW,
};

const denied = (r: Partial<Extract<AuthorizeResult, { allowed: false }>>) =>
  DecisionSchema.parse(
    toDecision(
      { allowed: false, code: 'BUDGET_EXCEEDED', replayed: false, status, ...r },
      'coder-1',
      'read_file',
      'default',
    ),
  );

describe('the level of a denial', () => {
  it("the agent's own budgets: level agent; monthly stays monthly", () => {
    for (const exceeded of ['session', 'daily', 'monthly'] as const) {
      const d = denied({ exceeded });
      expect(d).toMatchObject({ allowed: false, error_code: 'BUDGET_EXCEEDED', exceeded });
      expect(d).toMatchObject({ level: 'agent' });
      expect(d).not.toHaveProperty('pool_id');
    }
    expect(denied({ exceeded: 'monthly' })).toMatchObject({
      reason: 'Monthly cost limit reached. Used: $0.00/$0.00',
    });
  });

  it("a pool's cost limit: exceeded pool, pool_id, period, level the pool; the texts name it", () => {
    const d = denied({ exceeded: 'pool', poolId: 'eng', period: 'monthly', level: 'eng' });
    expect(d).toEqual({
      allowed: false,
      error_code: 'BUDGET_EXCEEDED',
      exceeded: 'pool',
      pool_id: 'eng',
      period: 'monthly',
      level: 'eng',
      reason: 'Monthly cost limit of pool eng reached (shared by the agents beneath it)',
      suggestion:
        "Wait for pool eng's reset at the start of its next local month, raise its monthly_cost_limit, or move the agent to another pool",
      model: 'default',
      replayed: false,
      budget_status: expect.objectContaining({ agent_id: 'coder-1', pool_id: 'web' }),
    });
    expect(
      denied({ exceeded: 'pool', poolId: 'web', period: 'daily', level: 'web' }),
    ).toMatchObject({
      period: 'daily',
      reason: 'Daily cost limit of pool web reached (shared by the agents beneath it)',
    });
  });

  it("a pool's rate limit: level the pool, the texts name it; the agent's names its own figure", () => {
    const pool = denied({
      code: 'RATE_LIMITED',
      exceeded: 'tokens_per_minute',
      level: 'eng',
      retryAfterMs: 1500,
    });
    expect(pool).toMatchObject({
      error_code: 'RATE_LIMITED',
      exceeded: 'tokens_per_minute',
      level: 'eng',
      retry_after_ms: 1500,
      reason: "Rate limit reached: pool eng's tokens per minute (shared by the agents beneath it)",
      suggestion: "Retry after 2 s, or raise pool eng's tokens_per_minute",
    });
    const own = toDecision(
      {
        allowed: false,
        code: 'RATE_LIMITED',
        exceeded: 'requests_per_minute',
        level: 'agent',
        retryAfterMs: 10,
        replayed: false,
        status: { ...status, requestsPerMinute: 7 },
      },
      'coder-1',
      'read_file',
      'default',
    );
    expect(own).toMatchObject({
      level: 'agent',
      reason: 'Rate limit reached: 7 requests per minute for agent coder-1',
      suggestion: "Retry after 1 s, or raise the agent's requests_per_minute",
    });
  });
});
