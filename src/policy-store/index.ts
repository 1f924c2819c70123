export {
  type AgentsOutcome,
  applyToAgents,
  followedLimits,
  rolesWithNewLimits,
} from './agents.js';
export { diffPolicyDocs, type PolicyFieldChange, sameJson } from './diff.js';
export { type LivePolicy, livePolicy } from './live.js';
export {
  type PolicyChangeOptions,
  type PolicyChangeResult,
  PolicyRuntime,
  type PolicyRuntimeOptions,
  type PolicySource,
  type PolicyState,
} from './runtime.js';
