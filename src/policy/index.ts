export type { Profile } from '../engine/profile.js';
export { DEFAULT_POLICY_DOC } from './defaults.js';
export { PolicyError, type PolicyIssue } from './errors.js';
export { loadPolicy } from './load.js';
export {
  MODEL_NAME_PATTERN,
  OPERATION_NAME_PATTERN,
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
export type { PolicyDoc } from './schema.js';
