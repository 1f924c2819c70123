/**
 * Shadow mode in the policy (docs/policy.md; docs/operations.md, "Shadow
 * mode"): a role's `shadow` and the top-level `shadow_agents`, checked with
 * every other problem at once, merged as the other fields, and carried by
 * every authorize profile the policy compiles (model calls included).
 */
import { describe, expect, it } from 'vitest';
import { MAX_SHADOW_AGENTS } from '../../src/engine/validate.js';
import { createPolicy } from '../../src/index.js';
import { issuesOf } from '../support/policy-issues.js';

describe('shadow mode in the policy', () => {
  it('none by default', () => {
    const p = createPolicy();
    expect(p.shadow).toEqual({ roles: [], agents: [] });
    const profile = p.profile('read_file');
    expect(profile.shadowRoles.size + profile.shadowAgents.size).toBe(0);
    expect(profile.script.agent.args.slice(7)).toEqual(['', '']);
  });

  it('roles with shadow: true and shadow_agents reach every profile, model calls too', () => {
    const p = createPolicy({
      roles: { coder: { shadow: true }, tester: { shadow: false } },
      shadow_agents: ['ag-2', 'ag-1', 'ag-2'],
    });
    expect(p.shadow).toEqual({ roles: ['coder'], agents: ['ag-1', 'ag-2'] });
    expect(p.doc.shadow_agents).toEqual(['ag-2', 'ag-1']);
    for (const profile of [p.profile('read_file'), p.profile('model_call', 'gpt-4o')]) {
      expect([...profile.shadowRoles]).toEqual(['coder']);
      expect([...profile.shadowAgents]).toEqual(['ag-1', 'ag-2']);
      expect(profile.script.library.args.slice(7)).toEqual(['|coder|', '|ag-1|ag-2|']);
    }
    // A profile's key names its shadow lists: two policies' profiles never share one.
    expect(p.profile('read_file').key).not.toBe(createPolicy().profile('read_file').key);
  });

  it('every problem at once: a bad shadow, a bad agent id, too many, shadow on default', () => {
    const issues = issuesOf(() =>
      createPolicy({
        roles: {
          coder: { shadow: 'yes' },
          default: { shadow: true },
          'bad role': { session_token_limit: 1, daily_cost_limit: 1 },
        },
        shadow_agents: ['ok-1', 'a:b'],
      }),
    );
    for (const expected of [
      'roles.coder.shadow: expected true or false',
      'roles.default.shadow: the "default" role cannot be in shadow mode',
      'shadow_agents[1]: invalid agent id',
      'roles["bad role"]: invalid role name',
    ]) {
      expect(
        issues.some((i) => i.startsWith(expected)),
        `${expected}\n${issues.join('\n')}`,
      ).toBe(true);
    }
    const many = Array.from({ length: MAX_SHADOW_AGENTS + 1 }, (_, i) => `ag-${i}`);
    expect(issuesOf(() => createPolicy({ shadow_agents: many }))).toEqual([
      expect.stringContaining(`shadow_agents: expected at most ${MAX_SHADOW_AGENTS} agent ids`),
    ]);
    expect(issuesOf(() => createPolicy({ shadow_agents: 'ag-1' }))).toEqual([
      expect.stringContaining('shadow_agents: expected a list of agent ids'),
    ]);
  });
});
