import type { DashboardRow } from '../api/routes/budget.schemas.js';
import type { AgentSnapshot } from '../engine/types.js';
import { toBudgetStatus } from './status.js';

/** One row of the guide's budget dashboard (its schema: src/api/routes/budget.schemas.ts). */
export type { DashboardRow };

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
