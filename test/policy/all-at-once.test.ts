/**
 * A broken policy reports every problem at once (docs/policy.md): a bad name
 * and its entry's problems, every YAML problem (and, when the document still
 * reads, its schema's), every declared pool that exists beneath another
 * parent. MemoryEngine, no store.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/engine/index.js';
import { createPolicy, createTollgate, loadPolicy, PolicyError } from '../../src/index.js';
import { issuesOf } from '../support/policy-issues.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-policy-all-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loadIssues(name: string, text: string): Promise<PolicyError> {
  const path = join(dir, name);
  writeFileSync(path, text);
  const err = await loadPolicy(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyError);
  return err as PolicyError;
}

describe('every problem of a policy at once', () => {
  it('a bad name and its entry’s problems together, in every section', () => {
    const issues = issuesOf(() =>
      createPolicy({
        roles: { 'bad role': { session_token_limit: -5, daily_cost_limit: 1 } },
        operations: { 'bad op': { estimated_tokens: 0 } },
        models: { 'bad model!': { input_per_million: -1, output_per_million: 1 } },
        pools: { 'bad pool!': { daily_cost_limit: -1 } },
      }),
    );
    for (const expected of [
      'roles["bad role"]: invalid role name',
      'roles["bad role"].session_token_limit: expected a positive integer (got -5)',
      'operations["bad op"]: invalid operation name',
      'operations["bad op"].estimated_tokens: expected a positive integer (got 0)',
      'models["bad model!"]: invalid model name',
      'models["bad model!"].input_per_million: expected a number of USD per million tokens',
      'pools["bad pool!"]: invalid pool id',
      'pools["bad pool!"].daily_cost_limit: expected a number of USD',
    ]) {
      expect(
        issues.some((i) => i.startsWith(expected)),
        expected,
      ).toBe(true);
    }
  });

  it('YAML: every problem, and the schema’s too when the document still reads', async () => {
    const err = await loadIssues(
      'dup.yaml',
      [
        'default_estimate: 1',
        'default_estimate: 2',
        'roles: { coder: { sesion_token_limit: 5, daily_cost_limit: -1 } }',
        'reservation_lease_seconds: !seconds 30',
      ].join('\n'),
    );
    expect(err.message).toContain('Invalid YAML in policy file');
    const lines = err.issues.map((i) => `${i.path}: ${i.message}`);
    expect(lines.some((l) => l.includes('Map keys must be unique at line 2'))).toBe(true);
    expect(lines.some((l) => l.includes('Unresolved tag: !seconds at line 4'))).toBe(true);
    expect(lines).toContain(
      'roles.coder.sesion_token_limit: unknown key (allowed: session_token_limit, daily_cost_limit, requests_per_minute, tokens_per_minute, monthly_cost_limit, time_zone, permissions, models, max_output_tokens, shadow)',
    );
    expect(lines.some((l) => l.startsWith('roles.coder.daily_cost_limit:'))).toBe(true);
    // The tag's value is a string: the schema says so too.
    expect(lines.some((l) => l.startsWith('reservation_lease_seconds:'))).toBe(true);
  });

  it('YAML that does not read: every syntax problem, each with its line', async () => {
    const err = await loadIssues(
      'broken.yaml',
      'roles:\n  coder: { session_token_limit: 1\nmodels: [\n',
    );
    expect(err.issues).toHaveLength(2);
    for (const i of err.issues) expect(i.message).toMatch(/at line \d+, column \d+$/);
  });

  it('startup names every declared pool that exists beneath another parent, and writes nothing', async () => {
    const engine = new MemoryEngine();
    const first = await createTollgate({
      engine,
      sweep: false,
      policy: {
        pools: [
          { pool_id: 'a' },
          { pool_id: 'b' },
          { pool_id: 'c', parent: 'a' },
          { pool_id: 'd', parent: 'a' },
        ],
      },
    });
    const before = (await engine.readOutbox()).length;
    const err = await createTollgate({
      engine,
      sweep: false,
      policy: {
        pools: [
          { pool_id: 'a' },
          { pool_id: 'b' },
          { pool_id: 'c', parent: 'b' },
          { pool_id: 'd', parent: 'b' },
          { pool_id: 'e', daily_cost_limit: 5 },
        ],
      },
    }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string; details?: Record<string, unknown> },
    );
    expect(err?.code).toBe('CONFLICT');
    expect(err?.message).toContain('Pool c exists beneath a, but the policy declares it beneath b');
    expect(err?.message).toContain('Pool d exists beneath a, but the policy declares it beneath b');
    expect(err?.details?.conflicts).toEqual([
      { pool_id: 'c', parent_id: 'a', declared_parent_id: 'b' },
      { pool_id: 'd', parent_id: 'a', declared_parent_id: 'b' },
    ]);
    // Nothing written: pool e was not created.
    expect(await engine.poolStatus('e')).toBeNull();
    expect((await engine.readOutbox()).length).toBe(before);
    await first.close();
  });
});
