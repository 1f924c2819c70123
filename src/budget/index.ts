export {
  Budget,
  type BudgetCheck,
  type BudgetDeps,
  budgetReason,
  type UsageRecord,
} from './budget.js';
export { type DashboardRow, toDashboardRow } from './dashboard.js';
export { type BudgetStatus, toBudgetStatus } from './status.js';
export { newUsageId } from './usage-id.js';
