import { Gauge, type Registry } from 'prom-client';
import type { EngineStatus } from '../engine/types.js';

const USD = 1_000_000;

/**
 * Per-agent gauges (label `agent_id`, perAgentMetrics), rebuilt on each
 * scrape from `listAgents()`: 8 series per agent.
 */
export interface PerAgentGauges {
  reset(): void;
  /** Sets the agent's gauges from its status (`role`: its role label). */
  set(s: EngineStatus, role: string): void;
}

export function perAgentGauges(registers: Registry[]): PerAgentGauges {
  const g = {
    sessionUsed: new Gauge({
      name: 'tollgate_agent_session_tokens_used',
      help: 'Tokens used in the agent’s current session (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
    sessionReserved: new Gauge({
      name: 'tollgate_agent_session_tokens_reserved',
      help: 'Tokens held by the agent’s open reservations in its current session (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
    sessionLimit: new Gauge({
      name: 'tollgate_agent_session_token_limit',
      help: 'The agent’s session token limit (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
    dailyCost: new Gauge({
      name: 'tollgate_agent_daily_cost_usd',
      help: 'Cost (USD) the agent used today, UTC (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
    dailyLimit: new Gauge({
      name: 'tollgate_agent_daily_cost_limit_usd',
      help: 'The agent’s daily cost limit, USD (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
    blocked: new Gauge({
      name: 'tollgate_agent_operations_blocked',
      help: 'Operations denied in the agent’s current session (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
    sessionOverrun: new Gauge({
      name: 'tollgate_agent_session_tokens_overrun',
      help: 'Tokens the agent settled above its holds’ estimates in its current session (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
    dailyOverrun: new Gauge({
      name: 'tollgate_agent_daily_cost_overrun_usd',
      help: 'Cost (USD) the agent settled above its holds’ cost today, UTC (perAgentMetrics).',
      labelNames: ['agent_id', 'role'] as const,
      registers,
    }),
  };
  return {
    reset() {
      for (const x of Object.values(g)) x.reset();
    },
    set(s, role) {
      const l = { agent_id: s.agentId, role };
      g.sessionUsed.set(l, s.sessionTokensUsed);
      g.sessionReserved.set(l, s.sessionTokensReserved);
      g.sessionLimit.set(l, s.sessionTokenLimit);
      g.dailyCost.set(l, s.dailyCostMicros / USD);
      g.dailyLimit.set(l, s.dailyLimitMicros / USD);
      g.blocked.set(l, s.operationsBlocked);
      g.sessionOverrun.set(l, s.sessionOverrunTokens ?? 0);
      g.dailyOverrun.set(l, (s.dailyOverrunMicros ?? 0) / USD);
    },
  };
}
