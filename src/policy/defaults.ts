import { finalizeDoc } from './finalize.js';
import { DEFAULT_OUTPUT_CAP, MODEL_CALL } from './names.js';
import type { PolicyDoc } from './schema.js';

/**
 * The guide's roles that its RBAC matrix (`checkRBAC`) does not list: they have a budget
 * ("Budget Configuration by Role") but the guide grants them no operation, so the defaults
 * give them `model_call` only. Grant their operations in a policy file or through
 * `PUT /v1/policy` (docs/policy.md, "Roles with a budget but no operations"); until then
 * the policy's warnings (`policy.warnings`, `tollgate policy check`, `GET /v1/policy`)
 * name each of them.
 */
export const GUIDE_ROLES_WITHOUT_OPERATIONS: readonly string[] = Object.freeze([
  'researcher',
  'ml-developer',
  'system-architect',
  'code-analyzer',
]);

/**
 * The budget alert thresholds, in percent of each limit, of a policy whose
 * `alerts.thresholds` is not given (docs/operations.md, "Alerts").
 */
export const DEFAULT_ALERT_THRESHOLDS: readonly number[] = Object.freeze([50, 80, 100]);

/**
 * The defaults, taken from the integration guide: the role budgets ("Budget Configuration
 * by Role"), the RBAC matrix of `checkRBAC` (roles it does not list get no permissions),
 * the estimates of `estimateTokensForOperation` (1000 for any other operation), one
 * `default` model price and a 5-minute reservation lease. Each of the guide's eight
 * roles may also call models (`model_call`, any model), holding 4,096 output tokens
 * for a request that sets no limit.
 */
export const DEFAULT_POLICY_DOC: PolicyDoc = finalizeDoc(
  {
    version: 1,
    roles: {
      // researcher, ml-developer, system-architect and code-analyzer: budgets from the
      // guide's table, but its RBAC matrix grants them no operation (see
      // GUIDE_ROLES_WITHOUT_OPERATIONS): model_call only, and a warning until granted.
      researcher: { session_token_limit: 200_000, daily_cost_limit: 20, permissions: [MODEL_CALL] },
      'ml-developer': {
        session_token_limit: 150_000,
        daily_cost_limit: 15,
        permissions: [MODEL_CALL],
      },
      'backend-dev': {
        session_token_limit: 100_000,
        daily_cost_limit: 10,
        permissions: ['read_file', 'write_file', 'run_tests', 'deploy', MODEL_CALL],
      },
      coder: {
        session_token_limit: 80_000,
        daily_cost_limit: 8,
        permissions: ['read_file', 'write_file', 'run_tests', MODEL_CALL],
      },
      'system-architect': {
        session_token_limit: 100_000,
        daily_cost_limit: 10,
        permissions: [MODEL_CALL],
      },
      tester: {
        session_token_limit: 60_000,
        daily_cost_limit: 6,
        permissions: ['read_file', 'run_tests', MODEL_CALL],
      },
      reviewer: {
        session_token_limit: 40_000,
        daily_cost_limit: 4,
        permissions: ['read_file', MODEL_CALL],
      },
      'code-analyzer': {
        session_token_limit: 50_000,
        daily_cost_limit: 5,
        permissions: [MODEL_CALL],
      },
      default: {
        session_token_limit: 50_000,
        daily_cost_limit: 5,
        max_output_tokens: DEFAULT_OUTPUT_CAP,
      },
    },
    operations: {
      read_file: { estimated_tokens: 5000 },
      write_file: { estimated_tokens: 3000 },
      run_tests: { estimated_tokens: 8000 },
      deploy: { estimated_tokens: 10_000 },
      analyze_code: { estimated_tokens: 15_000 },
    },
    default_estimate: 1000,
    models: {
      default: { input_per_million: 3, output_per_million: 15 },
    },
    reservation_lease_seconds: 300,
  },
  'the built-in defaults',
);
