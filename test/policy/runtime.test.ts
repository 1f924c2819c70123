/**
 * The policy changed at runtime, in one process (docs/policy.md, "Changing
 * the policy at runtime"): `tg.policies` on MemoryEngine without a store
 * applies a change at once; a bad one is refused with all its problems and
 * nothing applied; agents of a role take its new limits except their own; a
 * role the policy does not name is kept and warned about.
 * (Stored versions, the event and three processes: test/api/policy-runtime.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTollgate, PolicyError, type Tollgate, TollgateError } from '../../src/index.js';

const open: Tollgate[] = [];
afterEach(async () => {
  for (const tg of open.splice(0)) await tg.close();
});

async function start(policy?: Record<string, unknown>): Promise<Tollgate> {
  const tg = await createTollgate({ sweep: false, ...(policy ? { policy } : {}) });
  open.push(tg);
  return tg;
}

async function rejection(p: Promise<unknown>): Promise<PolicyError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PolicyError);
  return e as PolicyError;
}

describe('tg.policies in one process', () => {
  it('applies a change at once, to the same tg.policy every part holds', async () => {
    const tg = await start();
    expect(tg.policies.get()).toMatchObject({ version: 0, source: 'defaults', setBy: 'defaults' });
    await tg.identity.registerAgent('c-1', 'coder');
    expect((await tg.guard.checkPermission('c-1', 'deploy')).allowed).toBe(false);
    const policy = tg.policy;

    const r = await tg.policies.set(
      { roles: { coder: { permissions: ['read_file', 'deploy', 'model_call'] } } },
      { actor: 'ops@example' },
    );
    expect(r).toMatchObject({ version: 1, previousVersion: 0, changed: true, dryRun: false });
    expect(r.changes).toEqual([
      {
        path: 'roles.coder.permissions',
        before: ['read_file', 'write_file', 'run_tests', 'model_call'],
        after: ['read_file', 'deploy', 'model_call'],
      },
    ]);
    expect(tg.policy).toBe(policy);
    expect(tg.policy.isAllowed('coder', 'deploy')).toBe(true);
    expect((await tg.guard.checkPermission('c-1', 'deploy')).allowed).toBe(true);
    expect(await tg.guard.checkPermission('c-1', 'write_file')).toMatchObject({
      error_code: 'RBAC_DENIED',
    });
    expect(tg.policies.get()).toMatchObject({
      version: 1,
      source: 'runtime',
      setBy: 'ops@example',
    });

    // The same document again changes nothing.
    const again = await tg.policies.set({
      roles: { coder: { permissions: ['read_file', 'deploy', 'model_call'] } },
    });
    expect(again).toMatchObject({ version: 1, changed: false, changes: [] });
  });

  it('refuses a bad change with every problem at once, and applies none of it', async () => {
    const tg = await start();
    const err = await rejection(
      tg.policies.set({
        roles: {
          coder: { session_token_limit: -1, permissions: ['read_file'] },
          'bad role': { session_token_limit: 5 },
        },
        operations: { deploy: { estimated_tokens: 0 } },
        default_estimate: 'lots',
        pools: [{ pool_id: 'p', parent: 'nowhere' }],
      }),
    );
    const paths = err.issues.map((i) => i.path);
    for (const p of [
      'roles.coder.session_token_limit',
      'roles["bad role"]',
      'roles["bad role"].daily_cost_limit',
      'operations.deploy.estimated_tokens',
      'default_estimate',
      'pools[0].parent',
    ]) {
      expect(paths, p).toContain(p);
    }
    expect(tg.policies.get().version).toBe(0);
    expect(tg.policy.permissions('coder')).toContain('write_file');
    expect(tg.policy.roleBudget('coder').sessionTokenLimit).toBe(80_000);
    expect(tg.policy.estimate('deploy')).toBe(10_000);
    expect(await tg.engine.poolStatus('p')).toBeNull();
  });

  it('names declared pools that exist beneath another parent with the schema’s problems', async () => {
    const tg = await start({
      pools: [{ pool_id: 'a' }, { pool_id: 'b' }, { pool_id: 'c', parent: 'a' }],
    });
    const err = await rejection(
      tg.policies.set({
        default_estimate: 0,
        pools: [{ pool_id: 'a' }, { pool_id: 'b' }, { pool_id: 'c', parent: 'b' }],
      }),
    );
    expect(err.issues.map((i) => i.path)).toEqual(['default_estimate', 'pools[2].parent']);
    expect(err.issues[1]?.message).toContain('Pool c exists beneath a');
  });

  it('gives a role’s new limits to its agents, but keeps the limits an agent was given', async () => {
    const tg = await start();
    await tg.identity.registerAgent('follows', 'coder');
    await tg.identity.registerAgent('own-daily', 'coder');
    await tg.budget.setLimits('own-daily', { dailyCostLimit: 3 });
    await tg.identity.registerAgent('tester-1', 'tester');

    const r = await tg.policies.setRole('coder', {
      session_token_limit: 90_000,
      daily_cost_limit: 9,
    });
    expect(r.agentsUpdated).toBe(2);
    expect(r.changes.map((c) => c.path)).toEqual([
      'roles.coder.session_token_limit',
      'roles.coder.daily_cost_limit',
    ]);
    const follows = await tg.budget.getBudgetStatus('follows');
    expect([follows?.session.tokens_limit, follows?.daily.cost_limit]).toEqual([90_000, 9]);
    const own = await tg.budget.getBudgetStatus('own-daily');
    expect([own?.session.tokens_limit, own?.daily.cost_limit]).toEqual([90_000, 3]);
    const tester = await tg.budget.getBudgetStatus('tester-1');
    expect([tester?.session.tokens_limit, tester?.daily.cost_limit]).toEqual([60_000, 6]);
    // New registrations take the new limits.
    await tg.identity.registerAgent('new', 'coder');
    expect((await tg.budget.getBudgetStatus('new'))?.daily.cost_limit).toBe(9);
  });

  it('a dry run and an expected version that is not in force change nothing', async () => {
    const tg = await start();
    const dry = await tg.policies.setRole(
      'tester',
      { permissions: ['read_file'] },
      { dryRun: true },
    );
    expect(dry).toMatchObject({ version: 0, changed: false, dryRun: true });
    expect(dry.changes.map((c) => c.path)).toEqual(['roles.tester.permissions']);
    expect(tg.policy.permissions('tester')).toContain('run_tests');

    await tg.policies.setRole('tester', { permissions: ['read_file'] });
    const stale = await tg.policies
      .setRole('reviewer', { permissions: [] }, { expectedVersion: 0 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(stale).toBeInstanceOf(TollgateError);
    expect(stale).toMatchObject({ code: 'CONFLICT', details: { version: 1, expected_version: 0 } });
    expect(tg.policy.permissions('reviewer')).toContain('read_file');
  });

  it('keeps an agent registered with a role the policy does not name, and says so', async () => {
    const tg = await start();
    const rec = await tg.identity.registerAgent('u-1', 'codr');
    expect(rec.permissions).toEqual([]);
    expect(rec.warnings).toEqual([
      {
        code: 'unknown_role',
        path: 'role',
        message: expect.stringContaining('role "codr" is not named by the policy'),
      },
    ]);
    expect(rec.warnings?.[0]?.message).toContain('(nearest known: "coder")');
    expect((await tg.budget.getBudgetStatus('u-1'))?.daily.cost_limit).toBe(5);
    expect((await tg.identity.registerAgent('k-1', 'coder')).warnings).toBeUndefined();
    expect((await tg.identity.setRole('k-1', 'testr')).warnings?.[0]?.code).toBe('unknown_role');
  });

  it('warns about a role agents hold that a change takes away; they fall to the default budget', async () => {
    const tg = await start({
      roles: { ops: { session_token_limit: 300_000, daily_cost_limit: 30, permissions: ['*'] } },
    });
    await tg.identity.registerAgent('ops-1', 'ops');
    await tg.identity.registerAgent('ops-2', 'ops');
    const r = await tg.policies.set({});
    expect(r.changes.map((c) => c.path)).toEqual(['roles.ops']);
    const w = r.warnings.filter((x) => x.code === 'unknown_role');
    expect(w).toHaveLength(1);
    expect(w[0]?.message).toMatch(/^2 registered agents: role "ops" is not named by the policy/);
    expect(r.agentsUpdated).toBe(2);
    expect((await tg.budget.getBudgetStatus('ops-1'))?.daily.cost_limit).toBe(5);
    expect(tg.policy.isAllowed('ops', 'deploy')).toBe(false);
  });
});
