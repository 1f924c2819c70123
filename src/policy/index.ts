export type { Profile } from '../engine/profile.js';
export { DEFAULT_POLICY_DOC, GUIDE_ROLES_WITHOUT_OPERATIONS } from './defaults.js';
export { formatPath, PolicyError, type PolicyIssue } from './errors.js';
export { loadPolicy, readPolicyFile } from './load.js';
export {
  MAX_POOL_DEPTH,
  MODEL_NAME_PATTERN,
  OPERATION_NAME_PATTERN,
  POOL_ID_PATTERN,
  ROLE_NAME_PATTERN,
  WILDCARD_PERMISSION,
} from './names.js';
export {
  createPolicy,
  type ModelRates,
  type Policy,
  type RoleBudget,
  type RolePeriods,
  type RoleRates,
} from './policy.js';
export { type Declared as DeclaredPool, declaredPools, type PoolDeclaration } from './pools.js';
export { resolvePolicyDoc } from './resolve.js';
export type { PolicyDoc, RoleEntry } from './schema.js';
export {
  knownOperations,
  nearestName,
  type PolicyWarning,
  type PolicyWarningCode,
  policyWarnings,
  unknownRoleWarning,
} from './warnings.js';
