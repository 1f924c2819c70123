import { describe, expect, it } from 'vitest';
import { createPolicy, DEFAULT_POLICY_DOC } from '../../src/policy/index.js';

describe('merging a policy onto the defaults', () => {
  it('a file that only sets models keeps the default roles, operations and lease', () => {
    const policy = createPolicy({
      models: { 'gpt-4o-mini': { input_per_million: 0.15, output_per_million: 0.6 } },
    });
    expect(policy.doc.roles).toEqual(DEFAULT_POLICY_DOC.roles);
    expect(policy.doc.operations).toEqual(DEFAULT_POLICY_DOC.operations);
    expect(policy.leaseMs).toBe(300_000);
    expect(policy.roleBudget('coder')).toEqual({
      sessionTokenLimit: 80_000,
      dailyCostLimitMicros: 8_000_000,
    });
    expect(policy.rates('gpt-4o-mini')).toEqual({
      model: 'gpt-4o-mini',
      inputMicrosPerMillion: 150_000,
      outputMicrosPerMillion: 600_000,
    });
    expect(policy.rates()).toEqual({
      model: 'default',
      inputMicrosPerMillion: 3_000_000,
      outputMicrosPerMillion: 15_000_000,
    });
  });

  it('a role override changes only the fields it sets', () => {
    const policy = createPolicy({ roles: { coder: { session_token_limit: 90_000 } } });
    expect(policy.doc.roles.coder).toEqual({
      session_token_limit: 90_000,
      daily_cost_limit: 8,
      permissions: ['read_file', 'write_file', 'run_tests', 'model_call'],
    });
    expect(policy.doc.roles.tester).toEqual(DEFAULT_POLICY_DOC.roles.tester);
    expect(policy.roleBudget('coder')).toEqual({
      sessionTokenLimit: 90_000,
      dailyCostLimitMicros: 8_000_000,
    });
  });

  it('permissions replace the default list', () => {
    const policy = createPolicy({ roles: { coder: { permissions: ['read_file'] } } });
    expect(policy.permissions('coder')).toEqual(['read_file']);
    expect(policy.isAllowed('coder', 'write_file')).toBe(false);
    expect(policy.rolesAllowed('write_file')).toEqual(['backend-dev']);
    const none = createPolicy({ roles: { reviewer: { permissions: [] } } });
    expect(none.permissions('reviewer')).toEqual([]);
    expect(none.rolesAllowed('read_file')).toEqual(['backend-dev', 'coder', 'tester']);
  });

  it('deduplicates permissions', () => {
    const policy = createPolicy({ roles: { tester: { permissions: ['read_file', 'read_file'] } } });
    expect(policy.permissions('tester')).toEqual(['read_file']);
  });

  it('adds a new role that gives both limits', () => {
    const policy = createPolicy({
      roles: { 'ops-bot': { session_token_limit: 10_000, daily_cost_limit: 0.5 } },
    });
    expect(policy.roleBudget('ops-bot')).toEqual({
      sessionTokenLimit: 10_000,
      dailyCostLimitMicros: 500_000,
    });
    expect(policy.permissions('ops-bot')).toEqual([]);
    expect(policy.doc.roles['ops-bot']).toEqual({
      session_token_limit: 10_000,
      daily_cost_limit: 0.5,
      permissions: [],
    });
    expect(policy.knownRoles()).toContain('ops-bot');
  });

  it('overrides the default role budget', () => {
    const policy = createPolicy({ roles: { default: { daily_cost_limit: 1.25 } } });
    expect(policy.roleBudget('someone-new')).toEqual({
      sessionTokenLimit: 50_000,
      dailyCostLimitMicros: 1_250_000,
    });
    expect(policy.doc.roles.default).toEqual({
      session_token_limit: 50_000,
      daily_cost_limit: 1.25,
      max_output_tokens: 4096,
    });
  });

  it('"*" grants every operation, named or not', () => {
    const policy = createPolicy({
      roles: {
        researcher: { permissions: ['*'] },
        admin: { session_token_limit: 1, daily_cost_limit: 1, permissions: ['*'] },
      },
    });
    expect(policy.isAllowed('researcher', 'deploy')).toBe(true);
    expect(policy.isAllowed('researcher', 'anything.at-all')).toBe(true);
    expect(policy.rolesAllowed('read_file')).toEqual([
      'admin',
      'backend-dev',
      'coder',
      'researcher',
      'reviewer',
      'tester',
    ]);
    expect(policy.rolesAllowed('deploy')).toEqual(['admin', 'backend-dev', 'researcher']);
    expect(policy.rolesAllowed('never.named')).toEqual(['admin', 'researcher']);
    expect(policy.rolesAllowed('never.named')).toBe(policy.rolesAllowed('other.unnamed'));
    expect(policy.permissions('researcher')).toEqual(['*']);
  });

  it('lists roles for operations named only in permissions', () => {
    const policy = createPolicy({ roles: { 'code-analyzer': { permissions: ['lint.run'] } } });
    expect(policy.rolesAllowed('lint.run')).toEqual(['code-analyzer']);
    expect(policy.estimate('lint.run')).toBe(1000);
  });

  it('merges operation estimates and the default estimate', () => {
    const policy = createPolicy({
      operations: {
        read_file: { estimated_tokens: 2000 },
        'web.search': { estimated_tokens: 4000 },
      },
      default_estimate: 1500,
    });
    expect(policy.estimate('read_file')).toBe(2000);
    expect(policy.estimate('write_file')).toBe(3000);
    expect(policy.estimate('web.search')).toBe(4000);
    expect(policy.estimate('unknown')).toBe(1500);
  });

  it('merges a partial default model and sets the lease', () => {
    const policy = createPolicy({
      models: { default: { output_per_million: 10 } },
      reservation_lease_seconds: 60,
    });
    expect(policy.rates()).toEqual({
      model: 'default',
      inputMicrosPerMillion: 3_000_000,
      outputMicrosPerMillion: 10_000_000,
    });
    expect(policy.leaseMs).toBe(60_000);
    expect(policy.doc.reservation_lease_seconds).toBe(60);
  });

  it('converts money to integer micro-dollars', () => {
    const policy = createPolicy({
      roles: { coder: { daily_cost_limit: 8.0 }, tester: { daily_cost_limit: 0.000001 } },
      models: {
        cheap: { input_per_million: 0.15, output_per_million: 0.075 },
        precise: { input_per_million: 1.123456, output_per_million: 499.999999 },
        free: { input_per_million: 0, output_per_million: 0 },
      },
    });
    expect(policy.roleBudget('coder').dailyCostLimitMicros).toBe(8_000_000);
    expect(policy.roleBudget('tester').dailyCostLimitMicros).toBe(1);
    expect(policy.rates('cheap')).toEqual({
      model: 'cheap',
      inputMicrosPerMillion: 150_000,
      outputMicrosPerMillion: 75_000,
    });
    expect(policy.rates('precise')).toEqual({
      model: 'precise',
      inputMicrosPerMillion: 1_123_456,
      outputMicrosPerMillion: 499_999_999,
    });
    expect(policy.rates('free').inputMicrosPerMillion).toBe(0);
    for (const n of [
      policy.roleBudget('coder').dailyCostLimitMicros,
      policy.rates('cheap').inputMicrosPerMillion,
      policy.rates('precise').outputMicrosPerMillion,
    ]) {
      expect(Number.isInteger(n)).toBe(true);
    }
  });

  it('accepts its own merged document back unchanged', () => {
    const policy = createPolicy({
      roles: {
        coder: { permissions: ['*'] },
        extra: { session_token_limit: 5, daily_cost_limit: 1 },
      },
      models: { m: { input_per_million: 1, output_per_million: 2 } },
    });
    const again = createPolicy(JSON.parse(JSON.stringify(policy.doc)));
    expect(again.doc).toEqual(policy.doc);
  });

  it('does not change the defaults', () => {
    createPolicy({ roles: { coder: { session_token_limit: 1, permissions: [] } } });
    expect(DEFAULT_POLICY_DOC.roles.coder).toEqual({
      session_token_limit: 80_000,
      daily_cost_limit: 8,
      permissions: ['read_file', 'write_file', 'run_tests', 'model_call'],
    });
  });
});
