/**
 * The package's root ('tollgate'): what the README and docs/*.md show a user
 * naming, listed one by one; everything else is internal and may change
 * (README.md, "Use it as a library"). The HTTP client is 'tollgate/client'.
 */

// The durable store (docs/store.md, docs/embedded.md) and what a Tollgate holds of it.
export { DrainFlushError, type DrainStats, type EmbeddedDrain } from './audit/embedded/index.js';
export { type AuditStore, createStore, type StoreOptions } from './audit/store/index.js';
export type { SweepTimer } from './audit/sweep.js';
// The facades of a Tollgate (tg.identity, tg.budget, tg.guard) and what their calls take and return.
export {
  Budget,
  type BudgetCheck,
  type BudgetStatus,
  type DashboardRow,
  type PoolDetail,
  type PoolRecord,
  type PoolSettings,
  Pools,
  type UsageRecord,
} from './budget/index.js';
// The engines: the in-process MemoryEngine, RedisEngine (a single Redis or a Cluster), and their contract.
export {
  type Actor,
  type AgentSnapshot,
  type AgentStatus,
  type AuthorizeInput,
  type AuthorizeResult,
  createEngine,
  type DenialCode,
  type EndedSession,
  type Engine,
  type EngineOptions,
  type EngineStatus,
  type Exceeded,
  MemoryEngine,
  type Rates,
  RedisEngine,
  type RedisTarget,
  type RegisterInput,
  type ReleaseInput,
  type ReleaseResult,
  type ReservationState,
  type SessionInput,
  type SettleInput,
  type SettleResult,
  type SweepResult,
  type UpdateInput,
  type UsageInput,
  type UsageResult,
  type WouldDeny,
} from './engine/index.js';
export type { MemoryEngineOptions } from './engine/memory/index.js';
export type { RedisEngineOptions } from './engine/redis/index.js';
// The errors (docs/api.md lists the codes).
export { type ErrorCode, isTollgateError, TollgateError } from './errors.js';
export {
  type CallerKey,
  type Decision,
  Guard,
  type PermissionContext,
  PermissionDeniedError,
  type RecordResult,
  type Usage,
} from './guard/index.js';
export {
  type AgentRecord,
  Identity,
  type LimitsInput,
  type RegisterOptions,
  type SessionSummary,
} from './identity/index.js';
export { FolderLockedError, type LockHolder, openLockedStore } from './lock/index.js';
// Policies (docs/policy.md).
export {
  createPolicy,
  loadPolicy,
  type ModelRates,
  type Policy,
  type PolicyDoc,
  PolicyError,
  type PolicyIssue,
  type PolicyWarning,
  type PoolDeclaration,
  type RoleBudget,
} from './policy/index.js';
// The policy changed at runtime (docs/policy.md, "Changing the policy at runtime").
export {
  diffPolicyDocs,
  type PolicyChangeOptions,
  type PolicyChangeResult,
  type PolicyFieldChange,
  PolicyRuntime,
  type PolicySource,
  type PolicyState,
} from './policy-store/index.js';
// The one entry point.
export {
  createTollgate,
  type ModelFetchOptions,
  type Tollgate,
  type TollgateOptions,
} from './tollgate.js';
