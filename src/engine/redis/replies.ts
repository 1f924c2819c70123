import type { AgentStatus, EngineStatus } from '../types.js';
import type { Scalar } from './scripts.js';

/**
 * The status tuple every agent script returns (lua/includes/agent.lua statusOf):
 * role, status, sid, s_start, s_used, s_res, s_limit, s_cost, day cost,
 * c_res, d_limit, blocked, now, s_ovr, day overrun.
 */
export function parseStatus(agentId: string, t: Scalar[], at = 0): EngineStatus {
  const n = (i: number) => Number(t[at + i] ?? 0);
  return {
    agentId,
    role: String(t[at]),
    status: String(t[at + 1]) as AgentStatus,
    sessionId: String(t[at + 2]),
    sessionStartedMs: n(3),
    sessionTokensUsed: n(4),
    sessionTokensReserved: n(5),
    sessionTokenLimit: n(6),
    sessionCostMicros: n(7),
    dailyCostMicros: n(8),
    dailyReservedMicros: n(9),
    dailyLimitMicros: n(10),
    operationsBlocked: n(11),
    sessionOverrunTokens: n(13),
    dailyOverrunMicros: n(14),
    nowMs: n(12),
  };
}
