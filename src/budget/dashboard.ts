import type { AgentSnapshot } from '../engine/types.js';
import { type BudgetStatus, toBudgetStatus } from './status.js';

/** One row of the guide's budget dashboard, with the full status beside it. */
export interface DashboardRow {
  agent_id: string;
  role: string;
  session_utilization: string;
  daily_utilization: string;
  cost_used: string;
  operations_blocked: number;
  /** SUSPENDED (by an admin), BLOCKED (today's cost limit reached), else ACTIVE. */
  status: 'ACTIVE' | 'BLOCKED' | 'SUSPENDED';
  budget_status: BudgetStatus;
}

/** The guide's getBudgetDashboard rows, from one read of every agent. */
export function toDashboardRow(snap: AgentSnapshot): DashboardRow {
  const s = toBudgetStatus(snap.status);
  return {
    agent_id: s.agent_id,
    role: s.role,
    session_utilization: `${s.session.utilization_pct.toFixed(1)}%`,
    daily_utilization: `${s.daily.utilization_pct.toFixed(1)}%`,
    cost_used: `$${s.daily.cost_used.toFixed(4)}`,
    operations_blocked: s.operations_blocked,
    status:
      snap.status.status === 'suspended'
        ? 'SUSPENDED'
        : s.is_daily_exhausted
          ? 'BLOCKED'
          : 'ACTIVE',
    budget_status: s,
  };
}
