export {
  Budget,
  type BudgetCheck,
  type BudgetDeps,
  budgetReason,
  poolReason,
  type UsageRecord,
} from './budget.js';
export { type DashboardRow, toDashboardRow } from './dashboard.js';
export { type PoolRecord, toPoolRecord } from './pool-status.js';
export {
  type PoolDetail,
  type PoolParentConflict,
  type PoolSettings,
  type PoolSync,
  Pools,
  poolParentConflicts,
  syncPolicyPools,
} from './pools.js';
export { type BudgetStatus, toBudgetStatus } from './status.js';
export { newUsageId } from './usage-id.js';
