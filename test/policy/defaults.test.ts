import { describe, expect, it } from 'vitest';
import { createPolicy, DEFAULT_POLICY_DOC, loadPolicy } from '../../src/policy/index.js';

// "Budget Configuration by Role" of the integration guide.
const GUIDE_BUDGETS: Record<string, [tokens: number, usd: number]> = {
  researcher: [200_000, 20],
  'ml-developer': [150_000, 15],
  'backend-dev': [100_000, 10],
  coder: [80_000, 8],
  'system-architect': [100_000, 10],
  tester: [60_000, 6],
  reviewer: [40_000, 4],
  'code-analyzer': [50_000, 5],
  default: [50_000, 5],
};

// The RBAC matrix of `checkRBAC`; every other role gets nothing.
const GUIDE_MATRIX: Record<string, string[]> = {
  'backend-dev': ['read_file', 'write_file', 'run_tests', 'deploy'],
  coder: ['read_file', 'write_file', 'run_tests'],
  tester: ['read_file', 'run_tests'],
  reviewer: ['read_file'],
};

// `estimateTokensForOperation`.
const GUIDE_ESTIMATES: Record<string, number> = {
  read_file: 5000,
  write_file: 3000,
  run_tests: 8000,
  deploy: 10_000,
  analyze_code: 15_000,
};

describe('default policy', () => {
  const policy = createPolicy();

  it('has exactly the nine role budgets of the guide', () => {
    expect(Object.keys(DEFAULT_POLICY_DOC.roles).sort()).toEqual(Object.keys(GUIDE_BUDGETS).sort());
    for (const [role, [tokens, usd]] of Object.entries(GUIDE_BUDGETS)) {
      expect(DEFAULT_POLICY_DOC.roles[role]).toMatchObject({
        session_token_limit: tokens,
        daily_cost_limit: usd,
      });
      expect(policy.roleBudget(role)).toEqual({
        sessionTokenLimit: tokens,
        dailyCostLimitMicros: usd * 1_000_000,
      });
    }
  });

  it('has the RBAC matrix verbatim, model calls for the guide roles, and nothing for others', () => {
    for (const role of Object.keys(GUIDE_BUDGETS)) {
      const calls = role === 'default' ? [] : ['model_call'];
      expect(policy.permissions(role)).toEqual([...(GUIDE_MATRIX[role] ?? []), ...calls]);
    }
    expect(policy.rolesAllowed('model_call')).toEqual(
      Object.keys(GUIDE_BUDGETS)
        .filter((r) => r !== 'default')
        .sort(),
    );
    expect(policy.isAllowed('some-other-role', 'model_call')).toBe(false);
    expect(policy.isAllowed('backend-dev', 'deploy')).toBe(true);
    expect(policy.isAllowed('coder', 'deploy')).toBe(false);
    expect(policy.isAllowed('tester', 'write_file')).toBe(false);
    expect(policy.isAllowed('reviewer', 'read_file')).toBe(true);
    for (const role of ['researcher', 'ml-developer', 'system-architect', 'code-analyzer']) {
      for (const op of Object.keys(GUIDE_ESTIMATES)) expect(policy.isAllowed(role, op)).toBe(false);
    }
  });

  it('has the guide estimates, and 1000 for an unknown operation', () => {
    for (const [op, tokens] of Object.entries(GUIDE_ESTIMATES))
      expect(policy.estimate(op)).toBe(tokens);
    expect(Object.keys(DEFAULT_POLICY_DOC.operations).sort()).toEqual(
      Object.keys(GUIDE_ESTIMATES).sort(),
    );
    expect(DEFAULT_POLICY_DOC.default_estimate).toBe(1000);
    expect(policy.estimate('summarize')).toBe(1000);
  });

  it('has only the default model at $3 / $15 per million tokens', () => {
    expect(Object.keys(DEFAULT_POLICY_DOC.models)).toEqual(['default']);
    const rates = {
      model: 'default',
      inputMicrosPerMillion: 3_000_000,
      outputMicrosPerMillion: 15_000_000,
    };
    expect(policy.rates()).toEqual(rates);
    expect(policy.rates('gpt-4o')).toEqual(rates);
    expect(policy.rates('default')).toEqual(rates);
  });

  it('has a 5-minute lease and version 1', () => {
    expect(DEFAULT_POLICY_DOC.reservation_lease_seconds).toBe(300);
    expect(policy.leaseMs).toBe(300_000);
    expect(DEFAULT_POLICY_DOC.version).toBe(1);
    expect(policy.doc).toBe(DEFAULT_POLICY_DOC);
  });

  it('gives an unknown role the default budget and no permissions', () => {
    expect(policy.roleBudget('data-scientist')).toEqual({
      sessionTokenLimit: 50_000,
      dailyCostLimitMicros: 5_000_000,
    });
    expect(policy.permissions('data-scientist')).toEqual([]);
    expect(policy.isAllowed('data-scientist', 'read_file')).toBe(false);
    // The role literally named "default" has a budget but never permissions.
    expect(policy.permissions('default')).toEqual([]);
    expect(policy.isAllowed('default', 'read_file')).toBe(false);
  });

  it('does not mistake Object.prototype names for roles, operations or models', () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(policy.roleBudget(name)).toEqual(policy.roleBudget('default'));
      expect(policy.permissions(name)).toEqual([]);
      expect(policy.isAllowed(name, 'read_file')).toBe(false);
      expect(policy.estimate(name)).toBe(1000);
      expect(policy.rates(name).model).toBe('default');
      expect(policy.rolesAllowed(name)).toEqual([]);
      expect(DEFAULT_POLICY_DOC.roles[name]).toBeUndefined();
    }
  });

  it('lists the roles allowed per operation, sorted and cached', () => {
    expect(policy.rolesAllowed('read_file')).toEqual([
      'backend-dev',
      'coder',
      'reviewer',
      'tester',
    ]);
    expect(policy.rolesAllowed('run_tests')).toEqual(['backend-dev', 'coder', 'tester']);
    expect(policy.rolesAllowed('write_file')).toEqual(['backend-dev', 'coder']);
    expect(policy.rolesAllowed('deploy')).toEqual(['backend-dev']);
    expect(policy.rolesAllowed('analyze_code')).toEqual([]);
    expect(policy.rolesAllowed('unknown_op')).toEqual([]);
    expect(policy.rolesAllowed('read_file')).toBe(policy.rolesAllowed('read_file'));
    expect(policy.rolesAllowed('unknown_op')).toBe(policy.rolesAllowed('unknown_op'));
    expect(Object.isFrozen(policy.rolesAllowed('read_file'))).toBe(true);
  });

  it('knows every role but default, sorted', () => {
    expect(policy.knownRoles()).toEqual([
      'backend-dev',
      'code-analyzer',
      'coder',
      'ml-developer',
      'researcher',
      'reviewer',
      'system-architect',
      'tester',
    ]);
  });

  it('is deep-frozen', () => {
    expect(Object.isFrozen(DEFAULT_POLICY_DOC)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY_DOC.roles)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY_DOC.roles.coder)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY_DOC.roles.coder?.permissions)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY_DOC.models.default)).toBe(true);
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.roleBudget('coder'))).toBe(true);
  });

  it('is what createPolicy gives for no input, null (an empty YAML file) or {}, and loadPolicy()', async () => {
    expect(createPolicy(undefined).doc).toBe(DEFAULT_POLICY_DOC);
    expect(createPolicy(null).doc).toBe(DEFAULT_POLICY_DOC);
    expect(createPolicy({}).doc).toEqual(DEFAULT_POLICY_DOC);
    expect((await loadPolicy()).doc).toBe(DEFAULT_POLICY_DOC);
  });
});
