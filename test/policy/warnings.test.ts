/**
 * What a valid policy may still get wrong, said by name (docs/policy.md,
 * "Warnings"): an operation no entry names in a role's permissions, the
 * guide's roles that may run no operation, a role the policy does not name.
 */
import { describe, expect, it } from 'vitest';
import {
  createPolicy,
  GUIDE_ROLES_WITHOUT_OPERATIONS,
  nearestName,
  unknownRoleWarning,
} from '../../src/policy/index.js';

describe('policy warnings', () => {
  it('names a misspelt operation in a role’s permissions, with its role and the nearest known name', () => {
    const policy = createPolicy({
      roles: { coder: { permissions: ['read_flie', 'write_file', 'model_call', 'summarise'] } },
      operations: { summarize: { estimated_tokens: 2000 } },
    });
    // Valid: a warning never refuses the policy, and the name is granted as written.
    expect(policy.isAllowed('coder', 'read_flie')).toBe(true);
    const unknown = policy.warnings.filter((w) => w.code === 'unknown_operation');
    expect(unknown).toEqual([
      {
        code: 'unknown_operation',
        path: 'roles.coder.permissions[0]',
        message: expect.stringContaining('role coder: unknown operation "read_flie"'),
      },
      {
        code: 'unknown_operation',
        path: 'roles.coder.permissions[3]',
        message: expect.stringContaining('(nearest known: "summarize")'),
      },
    ]);
    expect(unknown[0]?.message).toContain('(nearest known: "read_file")');
  });

  it('knows the operations of `operations`, model_call and "*"', () => {
    const policy = createPolicy({
      roles: {
        ops: {
          session_token_limit: 1000,
          daily_cost_limit: 1,
          permissions: ['*', 'model_call', 'deploy', 'web.search'],
        },
      },
      operations: { 'web.search': { estimated_tokens: 4000 } },
    });
    expect(policy.warnings.filter((w) => w.code === 'unknown_operation')).toEqual([]);
  });

  it('names each of the guide’s roles that may run no operation but model_call, until granted', () => {
    const defaults = createPolicy();
    expect(defaults.warnings.filter((w) => w.code === 'no_operations').map((w) => w.path)).toEqual(
      GUIDE_ROLES_WITHOUT_OPERATIONS.map((r) => `roles.${r}.permissions`),
    );
    expect(
      defaults.warnings.find((w) => w.path === 'roles.researcher.permissions')?.message,
    ).toContain("the integration guide's RBAC matrix grants it none");
    const granted = createPolicy({
      roles: { researcher: { permissions: ['read_file', 'analyze_code', 'model_call'] } },
    });
    expect(granted.warnings.map((w) => w.path)).not.toContain('roles.researcher.permissions');
    expect(granted.warnings.filter((w) => w.code === 'no_operations')).toHaveLength(3);
  });

  it('says what a role the policy does not name gets, with the nearest known role', () => {
    const policy = createPolicy();
    const w = unknownRoleWarning('codr', policy.knownRoles(), 'role');
    expect(w.code).toBe('unknown_role');
    expect(w.path).toBe('role');
    expect(w.message).toContain('role "codr" is not named by the policy');
    expect(w.message).toContain("the default role's budget and no permissions");
    expect(w.message).toContain('(nearest known: "coder")');
    expect(w.message).toContain(`known roles: ${policy.knownRoles().join(', ')}`);
  });

  it('nearestName: fewest edits, ties by name, none without candidates', () => {
    expect(nearestName('tset', ['tester', 'test', 'rest'])).toBe('test');
    expect(nearestName('ab', ['ac', 'aa'])).toBe('aa');
    expect(nearestName('READ_FILE', ['read_file', 'write_file'])).toBe('read_file');
    expect(nearestName('x', [])).toBeUndefined();
  });
});
