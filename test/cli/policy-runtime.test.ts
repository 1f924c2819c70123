/**
 * `tollgate policy get|set|diff|set-role` against a running API whose policy
 * is stored (an embedded Tollgate on a fresh PostgreSQL schema, in process
 * through runCli), and `policy check` printing a file's warnings. The
 * tests run in order: each change builds on the version the previous one left.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/index.js';
import type { PostgresStore } from '../../src/audit/store/index.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { uid } from '../support/engines.js';
import { runWith } from './harness.js';

const ADMIN = 'cli-policy-admin-token-0123456789ab';
const schema = `tg_cli_policy_${randomBytes(4).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'tg-cli-policy-'));

let tg: Tollgate;
let server: Server;
let base: string;
let env: NodeJS.ProcessEnv;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const cli = (argv: string[], extraEnv?: NodeJS.ProcessEnv) => runWith(env, argv, extraEnv);

beforeAll(async () => {
  tg = await createTollgate({
    store: { databaseUrl: inject('databaseUrl'), schema },
    drain: { intervalMs: 60_000 },
    sweep: false,
    alerts: false,
  });
  server = createServer(createApp({ tollgate: tg, adminToken: ADMIN }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  env = { TOLLGATE_URL: base, TOLLGATE_ADMIN_TOKEN: ADMIN };
});

afterAll(async () => {
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  await tg.drain?.flush();
  await (tg.store as PostgresStore).pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await tg.close();
  rmSync(dir, { recursive: true, force: true });
});

// coder may also deploy (with a typo'd extra permission), pays more, and deploy costs 12,000.
const CHANGED = [
  'roles:',
  '  coder: { daily_cost_limit: 9.5, permissions: [read_file, write_file, deploy, read_flie, model_call] }',
  'operations:',
  '  deploy: { estimated_tokens: 12000 }',
  '',
].join('\n');
const CHANGED_PATHS = [
  'roles.coder.daily_cost_limit',
  'roles.coder.permissions',
  'operations.deploy.estimated_tokens',
];

describe('tollgate policy get, diff, set, set-role', () => {
  const agent = uid('polcli');

  it('get: version 0 from the defaults, the warnings and the document', async () => {
    const text = await cli(['policy', 'get']);
    expect(text.code).toBe(0);
    expect(text.out.errors).toEqual([]);
    const lines = text.out.text.join('\n');
    expect(lines).toMatch(/^version: +0$/m);
    expect(lines).toMatch(/^source: +defaults$/m);
    expect(lines).toMatch(/^set by: +defaults$/m);
    expect(lines).toMatch(/^set at: +\(not set at runtime\)$/m);
    // The guide's roles that may run no operation, named with their path.
    expect(lines).toContain(
      'roles.researcher.permissions: role researcher may run no operation but model_call',
    );
    expect(text.out.values).toHaveLength(1);
    expect(text.out.values[0]).toMatchObject({ roles: { coder: { daily_cost_limit: 8 } } });

    const json = await cli(['policy', 'get', '--json']);
    expect(json.out.values[0]).toMatchObject({
      version: 0,
      source: 'defaults',
      set_by: 'defaults',
      set_at: null,
      file: null,
    });
  });

  it('diff: an empty file is the defaults: no differences, exit 0', async () => {
    const empty = file('empty.yaml', '# nothing but a comment\n');
    const r = await cli(['policy', 'diff', empty]);
    expect(r.out.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.text[0]).toBe(`${empty}: no differences from the policy in force (version 0).`);
    // The defaults' own warnings follow (the guide's roles with no operation).
    expect(r.out.text[1]).toBe('4 warnings:');
  });

  it('diff: the fields that differ, before → after, and the warnings; exit 1; nothing changes', async () => {
    const changed = file('changed.yaml', CHANGED);
    const r = await cli(['policy', 'diff', changed]);
    expect(r.out.errors).toEqual([]);
    expect(r.code).toBe(1);
    const lines = r.out.text.join('\n');
    expect(r.out.text[0]).toBe(
      `${changed}: 3 fields differ from the policy in force (version 0), before → after:`,
    );
    expect(lines).toContain('  roles.coder.daily_cost_limit: 8 → 9.5');
    expect(lines).toContain('  operations.deploy.estimated_tokens: 10000 → 12000');
    expect(lines).toContain(
      '  roles.coder.permissions: ["read_file","write_file","run_tests","model_call"] → ["read_file","write_file","deploy","read_flie","model_call"]',
    );
    expect(lines).toContain('unknown operation "read_flie"');
    expect(lines).toContain('(nearest known: "read_file")');

    const json = await cli(['policy', 'diff', changed, '--json']);
    expect(json.code).toBe(1);
    const answer = json.out.values[0] as { changes: { path: string }[]; dry_run: boolean };
    expect(answer.dry_run).toBe(true);
    expect(answer.changes.map((c) => c.path)).toEqual(CHANGED_PATHS);
    expect(tg.policies.get().version).toBe(0);
  });

  it('set --dry-run: the changes, nothing stored', async () => {
    const r = await cli(['policy', 'set', file('dry.yaml', CHANGED), '--dry-run']);
    expect(r.out.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.text[0]).toMatch(
      /^Dry run, nothing changed: .*dry\.yaml would change 3 fields of version 0:$/,
    );
    expect(r.out.text.join('\n')).not.toContain('Agents updated');
    expect(tg.policies.get().version).toBe(0);
    expect(tg.policy.estimate('deploy')).toBe(10_000);
  });

  it('set: version 1, the changes, the warnings, the agents that took the new limits', async () => {
    await tg.identity.registerAgent(agent, 'coder');
    const changed = file('set.yaml', CHANGED);
    const r = await cli(['policy', 'set', changed, '--expected-version', '0']);
    expect(r.out.errors).toEqual([]);
    expect(r.code).toBe(0);
    const lines = r.out.text.join('\n');
    expect(r.out.text[0]).toBe('Policy version 1 set (was 0): 3 fields changed:');
    expect(lines).toContain('  roles.coder.daily_cost_limit: 8 → 9.5');
    // The typo, and the guide's four roles with no operation.
    expect(lines).toContain('5 warnings:');
    expect(lines).toContain(
      'roles.coder.permissions[3]: role coder: unknown operation "read_flie"',
    );
    expect(lines).toMatch(/^Agents updated: [1-9]\d*$/m);
    expect(tg.policies.get()).toMatchObject({ version: 1, setBy: 'admin', source: 'runtime' });
    expect(tg.policy.estimate('deploy')).toBe(12_000);
    expect((await tg.budget.getBudgetStatus(agent))?.daily.cost_limit).toBe(9.5);

    // The same file again: nothing stored.
    const again = await cli(['policy', 'set', changed]);
    expect(again.code).toBe(0);
    expect(again.out.text[0]).toBe(
      `No change: ${changed} equals the policy in force (version 1); nothing stored.`,
    );
    // And diff agrees: exit 0.
    expect((await cli(['policy', 'diff', changed])).code).toBe(0);

    const got = await cli(['policy', 'get', '--json']);
    expect(got.out.values[0]).toMatchObject({ version: 1, source: 'runtime', set_by: 'admin' });
  });

  it('set --expected-version on another version: CONFLICT, exit 1, nothing changes', async () => {
    const other = file('other.json', JSON.stringify({ default_estimate: 1500 }));
    const r = await cli(['policy', 'set', other, '--expected-version', '0']);
    expect(r.code).toBe(1);
    expect(r.out.text).toEqual([]);
    expect(r.out.errors).toHaveLength(1);
    expect(r.out.errors[0]).toMatch(/^CONFLICT: /);
    expect(r.out.errors[0]).toContain(`(HTTP 409 from PUT ${base}/v1/policy?expected_version=0)`);
    expect(tg.policies.get().version).toBe(1);
    expect(tg.policy.estimate('anything')).toBe(1000);

    const bad = await cli(['policy', 'set', other, '--expected-version', 'two']);
    expect(bad.code).toBe(2);
    expect(bad.out.errors[0]).toContain('--expected-version: expected an integer');
  });

  it('set-role: one role, on the expected version', async () => {
    const r = await cli([
      'policy',
      'set-role',
      'coder',
      '{"permissions":["read_file","deploy","model_call"]}',
      '--expected-version',
      '1',
    ]);
    expect(r.out.errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.text[0]).toBe('Policy version 2 set (was 1): 1 field changed:');
    expect(r.out.text[1]).toBe(
      '  roles.coder.permissions: ["read_file","write_file","deploy","read_flie","model_call"] → ["read_file","deploy","model_call"]',
    );
    expect(tg.policy.isAllowed('coder', 'write_file')).toBe(false);
  });

  it("a file the server refuses: every problem by its path; set exits 1, diff 2 (diff(1)'s trouble)", async () => {
    const bad = file(
      'bad.yaml',
      'roles:\n  coder: { session_token_limit: -5 }\n  "bad role": { daily_cost_limit: 1 }\n',
    );
    const set = await cli(['policy', 'set', bad]);
    expect(set.code).toBe(1);
    expect(set.out.errors[0]).toMatch(/^VALIDATION_FAILED: /);
    expect(set.out.errors[0]).toContain('body.roles.coder.session_token_limit');
    expect(set.out.errors[0]).toContain(`(HTTP 400 from PUT ${base}/v1/policy)`);
    const diff = await cli(['policy', 'diff', bad]);
    expect(diff.code).toBe(2);
    expect(diff.out.errors[0]).toContain('body.roles.coder.session_token_limit');
    expect(diff.out.errors[0]).toContain(`(HTTP 400 from PUT ${base}/v1/policy?dry_run=true)`);
    expect(tg.policies.get().version).toBe(2);
  });

  it('a file that does not read: every YAML problem, nothing sent; set exits 1, diff 2', async () => {
    const broken = file('broken.yaml', 'roles:\n  coder: {}\n  coder: {}\nroles: 1\n');
    const set = await cli(['policy', 'set', broken]);
    expect(set.code).toBe(1);
    expect(set.out.errors[0]).toContain(`Invalid YAML in policy file ${broken}`);
    expect(set.out.errors[0]).toMatch(/line 3.*line 4/);
    const diff = await cli(['policy', 'diff', broken]);
    expect(diff.code).toBe(2);
    const list = await cli(['policy', 'set', file('list.yaml', '- 1\n- 2\n')]);
    expect(list.code).toBe(1);
    expect(list.out.errors[0]).toContain('a policy document is a mapping, got a list');
    expect(tg.policies.get().version).toBe(2);
  });

  it('diff with no server: the URL that could not be reached, exit 2', async () => {
    const r = await cli(['policy', 'diff', file('x.yaml', '')], {
      TOLLGATE_URL: 'http://127.0.0.1:9',
    });
    expect(r.code).toBe(2);
    expect(r.out.errors[0]).toMatch(
      /^NETWORK_ERROR: cannot reach http:\/\/127\.0\.0\.1:9\/v1\/policy\?dry_run=true \(PUT\)/,
    );
  });
});

describe('tollgate policy check', () => {
  it('prints the warnings after "valid": unknown operations with the nearest name, roles with none', async () => {
    const f = file(
      'check.yaml',
      'roles:\n  coder: { permissions: [read_file, wrte_file, model_call] }\n',
    );
    const r = await cli(['policy', 'check', f], {});
    expect(r.code).toBe(0);
    expect(r.out.errors).toEqual([]);
    expect(r.out.text[0]).toBe(`${f}: valid, with 5 warnings:`);
    const lines = r.out.text.slice(1, 6);
    expect(lines.find((l) => l.includes('wrte_file'))).toMatch(
      /^ {2}roles\.coder\.permissions\[1\]: role coder: unknown operation "wrte_file".*\(nearest known: "write_file"\)/,
    );
    for (const role of ['researcher', 'ml-developer', 'system-architect', 'code-analyzer']) {
      expect(lines.join('\n')).toContain(
        `  roles.${role}.permissions: role ${role} may run no operation but model_call`,
      );
    }
    const json = await cli(['policy', 'check', f, '--json']);
    const v = json.out.values[0] as { valid: boolean; warnings: { code: string; path: string }[] };
    expect(v.valid).toBe(true);
    expect(v.warnings.find((w) => w.code === 'unknown_operation')).toMatchObject({
      code: 'unknown_operation',
      path: 'roles.coder.permissions[1]',
    });
    expect(v.warnings.filter((w) => w.code === 'no_operations')).toHaveLength(4);
  });

  it('a policy with no warnings prints "valid" alone', async () => {
    const f = file(
      'quiet.json',
      JSON.stringify({
        roles: Object.fromEntries(
          ['researcher', 'ml-developer', 'system-architect', 'code-analyzer'].map((r) => [
            r,
            { permissions: ['read_file', 'model_call'] },
          ]),
        ),
      }),
    );
    const r = await cli(['policy', 'check', f], {});
    expect(r.code).toBe(0);
    expect(r.out.text[0]).toBe(`${f}: valid`);
    expect(r.out.text).toHaveLength(1);
  });
});
