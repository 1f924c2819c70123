import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runCli } from '../../src/cli/index.js';
import { capture } from '../support/capture.js';

describe('tollgate CLI', () => {
  it.each([
    ['embedded', {}],
    ['redis', { REDIS_URL: inject('redisUrl') }],
  ])('demo runs the guide scenario (%s)', async (_name, env) => {
    const out = capture();
    expect(await runCli(['demo'], env, out)).toBe(0);
    expect(out.values).toMatchObject([
      { allowed: true },
      { allowed: false, error_code: 'BUDGET_EXCEEDED', exceeded: 'session' },
      { allowed: false, error_code: 'RBAC_DENIED' },
      { session: { tokens_used: 20000, tokens_reserved: 0 }, operations_blocked: 2 },
    ]);
  });

  it('policy check accepts a good file and names the field of a bad one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tg-cli-'));
    const good = join(dir, 'good.yaml');
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      good,
      'roles:\n  researcher:\n    permissions: [read_file]\nalerts:\n  thresholds: [75, 90]\npools:\n  org: {}\n  team: { parent: org }\n',
    );
    await writeFile(bad, 'roles:\n  coder:\n    session_token_limit: -5\n');
    const ok = capture();
    expect(await runCli(['policy', 'check', good], {}, ok)).toBe(0);
    expect(ok.text[0]).toContain('valid');
    const summary = ok.values[0] as { roles: string[] };
    expect(summary).toMatchObject({ alert_thresholds: [75, 90], pools: ['org', 'team'] });
    expect(summary.roles).toContain('researcher');
    const ko = capture();
    expect(await runCli(['policy', 'check', bad], {}, ko)).toBe(1);
    expect(ko.errors.join('\n')).toContain('roles.coder.session_token_limit');
  });

  it('prints help and refuses unknown commands', async () => {
    const h = capture();
    expect(await runCli(['--help'], {}, h)).toBe(0);
    expect(h.text.join('\n')).toContain('tollgate demo');
    const u = capture();
    expect(await runCli(['fly'], {}, u)).toBe(2);
    expect(u.errors.join('\n')).toContain('unknown command');
  });
});
