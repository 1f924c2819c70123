import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_DOC, loadPolicy, PolicyError } from '../../src/policy/index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-policy-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, 'utf8');
  return path;
}

async function loadError(path: string): Promise<PolicyError> {
  const err = await loadPolicy(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyError);
  const policyError = err as PolicyError;
  expect(policyError.code).toBe('POLICY_INVALID');
  expect(policyError.message).toContain(path);
  return policyError;
}

const YAML_POLICY = `# Tollgate policy
version: 1
roles:
  coder: { session_token_limit: 80000, daily_cost_limit: 8.00, permissions: [read_file, write_file, run_tests] }
  researcher:
    permissions: [read_file, analyze_code]
  default: { session_token_limit: 50000, daily_cost_limit: 5.00 }
operations:
  read_file: { estimated_tokens: 4000 }
default_estimate: 1000
models:
  default: { input_per_million: 3.00, output_per_million: 15.00 }
  claude-3.5-haiku: { input_per_million: 0.8, output_per_million: 4 }
reservation_lease_seconds: 120
`;

describe('loadPolicy', () => {
  it('reads a YAML file (.yaml and .yml)', async () => {
    for (const name of ['p.yaml', 'p.yml', 'P.YAML']) {
      const policy = await loadPolicy(await file(name, YAML_POLICY));
      expect(policy.isAllowed('researcher', 'analyze_code')).toBe(true);
      expect(policy.roleBudget('researcher')).toEqual({
        sessionTokenLimit: 200_000,
        dailyCostLimitMicros: 20_000_000,
      });
      expect(policy.estimate('read_file')).toBe(4000);
      expect(policy.rates('claude-3.5-haiku')).toEqual({
        model: 'claude-3.5-haiku',
        inputMicrosPerMillion: 800_000,
        outputMicrosPerMillion: 4_000_000,
      });
      expect(policy.leaseMs).toBe(120_000);
    }
  });

  it('reads a JSON file, with or without a byte-order mark', async () => {
    const doc = {
      roles: { tester: { daily_cost_limit: 2.5 } },
      models: { 'gpt-4o-mini': { input_per_million: 0.15, output_per_million: 0.6 } },
    };
    for (const [name, prefix] of [
      ['p.json', ''],
      ['bom.json', '\uFEFF'],
    ] as const) {
      const policy = await loadPolicy(await file(name, prefix + JSON.stringify(doc)));
      expect(policy.roleBudget('tester').dailyCostLimitMicros).toBe(2_500_000);
      expect(policy.rates('gpt-4o-mini').inputMicrosPerMillion).toBe(150_000);
      expect(policy.doc.roles.coder).toEqual(DEFAULT_POLICY_DOC.roles.coder);
    }
  });

  it('treats an empty or comment-only YAML file as the defaults', async () => {
    const policy = await loadPolicy(await file('empty.yaml', '# nothing to override\n'));
    expect(policy.doc).toEqual(DEFAULT_POLICY_DOC);
  });

  it('names the file and the field of a bad value', async () => {
    const path = await file('bad.yaml', 'roles:\n  coder:\n    session_token_limit: -1\n');
    const err = await loadError(path);
    expect(err.message).toBe(
      `Invalid policy in ${path}: roles.coder.session_token_limit: expected a positive integer (got -1)`,
    );
    expect(err.issues).toEqual([
      { path: 'roles.coder.session_token_limit', message: 'expected a positive integer (got -1)' },
    ]);
  });

  it('names an unknown key in a JSON file', async () => {
    const path = await file('typo.json', '{"roles":{"coder":{"daily_cost_limt":3}}}');
    expect((await loadError(path)).message).toContain('roles.coder.daily_cost_limt: unknown key');
  });

  it('refuses a missing file', async () => {
    const path = join(dir, 'missing.yaml');
    expect((await loadError(path)).message).toBe(
      `Cannot read policy file ${path}: no such file (ENOENT)`,
    );
  });

  it('refuses a directory', async () => {
    const path = join(dir, 'folder.yaml');
    await mkdir(path);
    expect((await loadError(path)).message).toContain('Cannot read policy file');
  });

  it('refuses an unknown extension or none', async () => {
    const toml = await file('p.toml', 'version = 1');
    expect((await loadError(toml)).message).toContain('extension ".toml"; use .json, .yaml, .yml');
    const bare = await file('policy', 'version: 1');
    expect((await loadError(bare)).message).toContain('no extension');
  });

  it('refuses bad YAML, with the line', async () => {
    const path = await file('broken.yaml', 'roles:\n  coder: { session_token_limit: 1\n');
    const err = await loadError(path);
    expect(err.message).toContain(`Invalid YAML in policy file ${path}`);
    expect(err.message).toMatch(/line \d+/);
  });

  it('refuses duplicate YAML keys, several documents and unknown tags', async () => {
    const dup = await file('dup.yaml', 'default_estimate: 1\ndefault_estimate: 2\n');
    expect((await loadError(dup)).message).toContain('Invalid YAML');
    const multi = await file('multi.yaml', 'version: 1\n---\nversion: 1\n');
    expect((await loadError(multi)).message).toContain('Invalid YAML');
    const tagged = await file('tag.yaml', 'default_estimate: !custom 5\n');
    expect((await loadError(tagged)).message).toContain('Invalid YAML');
  });

  it('refuses bad JSON', async () => {
    const path = await file('broken.json', '{"roles": ');
    expect((await loadError(path)).message).toContain(`Invalid JSON in policy file ${path}`);
    const empty = await file('empty.json', '');
    expect((await loadError(empty)).message).toContain('Invalid JSON');
  });

  it('refuses a YAML scalar or list as the document', async () => {
    const scalar = await file('scalar.yaml', 'just text\n');
    expect((await loadError(scalar)).message).toContain(
      '(root): expected a mapping, got "just text"',
    );
    const list = await file('list.yml', '- a\n- b\n');
    expect((await loadError(list)).message).toContain('(root): expected a mapping, got a list');
  });
});
