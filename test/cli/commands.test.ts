/**
 * The commands that reach the rest of the API: agents set-role, set-metadata,
 * set-limits, verify; sessions start and end; authorize, settle, release and
 * usage. In process (runCli) against the API on the run's Redis, as
 * test/cli/agents.test.ts.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/index.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { uid } from '../support/engines.js';
import { only, runWith } from './harness.js';

const ADMIN = 'cli-commands-admin-token-0123456789';

let tg: Tollgate;
let server: Server;
let base: string;
let env: NodeJS.ProcessEnv;

const cli = (argv: string[], extraEnv?: NodeJS.ProcessEnv) => runWith(env, argv, extraEnv);

async function register(role = 'coder'): Promise<{ id: string; key: string }> {
  const id = uid('cmd');
  const { code, out } = await cli(['agents', 'register', id, '--role', role, '--json']);
  expect(code, out.stderr).toBe(0);
  return { id, key: only(out).api_key };
}

/** The agent_updated events the engine emitted for `id` so far. */
async function updates(id: string) {
  return (await tg.engine.readOutbox()).filter(
    (e) => e.fields.agent_id === id && e.fields.type === 'agent_updated',
  );
}

beforeAll(async () => {
  tg = await createTollgate({ redis: inject('redisUrl') });
  server = createApp({ tollgate: tg, adminToken: ADMIN }).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  env = { TOLLGATE_URL: base, TOLLGATE_ADMIN_TOKEN: ADMIN };
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await tg.close();
});

describe('tollgate agents set-role / set-metadata (PATCH /v1/agents/:id)', () => {
  it("set-role gives the role's permissions and limits (overrides replaced), one event", async () => {
    const { id } = await register('coder');
    expect((await cli(['agents', 'set-limits', id, '--session-token-limit', '123'])).code).toBe(0);
    const r = await cli(['agents', 'set-role', id, 'reviewer']);
    expect(r.code, r.out.stderr).toBe(0);
    expect(r.out.text[0]).toBe(`Agent ${id} now has role reviewer.`);
    expect(r.out.stdout).toMatch(/role:\s+reviewer/);
    expect(r.out.stdout).toMatch(/permissions:\s+read_file/);
    expect(r.out.stdout).not.toContain('write_file');
    const s = await tg.budget.getBudgetStatus(id);
    expect(s?.role).toBe('reviewer');
    expect(s?.session.tokens_limit).toBe(tg.policy.roleBudget('reviewer').sessionTokenLimit);
    expect(await updates(id)).toHaveLength(1);
    // The same role again: the same record, nothing written.
    const again = await cli(['agents', 'set-role', id, 'reviewer', '--json']);
    expect(only(again.out)).toMatchObject({ agent_id: id, role: 'reviewer' });
    expect(await updates(id)).toHaveLength(1);
    // The guard follows at once.
    const d = await tg.guard.checkPermission(id, 'write_file', { estimatedTokens: 10 });
    expect(d).toMatchObject({ allowed: false, error_code: 'RBAC_DENIED' });
  });

  it('set-metadata replaces the metadata; a bad JSON is a usage error naming it', async () => {
    const { id } = await register();
    const r = await cli(['agents', 'set-metadata', id, '{"team":"payments","tier":2}', '--json']);
    expect(only(r.out)).toMatchObject({ agent_id: id, metadata: { team: 'payments', tier: 2 } });
    const again = await cli(['agents', 'set-metadata', id, '{"team":"search"}']);
    expect(again.code).toBe(0);
    expect(again.out.stdout).toContain('{"team":"search"}');
    expect((await tg.identity.getAgent(id))?.metadata).toEqual({ team: 'search' });
    const bad = await cli(['agents', 'set-metadata', id, '[1]']);
    expect(bad.code).toBe(2);
    expect(bad.out.stderr).toContain('<json>: expected a JSON object');
    expect((await tg.identity.getAgent(id))?.metadata).toEqual({ team: 'search' });
  });

  it('an unknown agent, an agent key, a bad role: refused, naming what failed', async () => {
    const ghost = uid('ghost');
    const nf = await cli(['agents', 'set-role', ghost, 'coder']);
    expect(nf.code).toBe(1);
    expect(nf.out.stderr).toBe(
      `NOT_FOUND: Agent ${ghost} not found (HTTP 404 from PATCH ${base}/v1/agents/${ghost})`,
    );
    const { id, key } = await register();
    const forbidden = await cli(['agents', 'set-role', id, 'tester', '--token', key]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.out.stderr).toMatch(/^FORBIDDEN: .*\(HTTP 403 from PATCH /);
    const bad = await cli(['agents', 'set-role', id, 'no such role!']);
    expect(bad.code).toBe(1);
    expect(bad.out.stderr).toMatch(/^VALIDATION_FAILED: Invalid request: body\.role: .*HTTP 400/);
    expect((await tg.identity.getAgent(id))?.role).toBe('coder');
  });
});

describe('tollgate agents set-limits / verify', () => {
  it('set-limits overrides limits and prints the status; options are checked first', async () => {
    const { id } = await register();
    const r = await cli([
      'agents',
      'set-limits',
      id,
      '--daily-cost-limit',
      '20',
      '--session-token-limit',
      '5000',
      '--requests-per-minute',
      '60',
    ]);
    expect(r.code, r.out.stderr).toBe(0);
    expect(r.out.text[0]).toBe(`Limits of ${id} set.`);
    expect(r.out.stdout).toMatch(/tokens used:\s+0 \/ 5,000/);
    const json = await cli(['agents', 'set-limits', id, '--time-zone', 'Europe/Berlin', '--json']);
    expect(only(json.out)).toMatchObject({ agent_id: id, daily: { cost_limit: 20 } });
    const none = await cli(['agents', 'set-limits', id]);
    expect(none.code).toBe(2);
    expect(none.out.stderr).toContain('give at least one limit');
    const nan = await cli(['agents', 'set-limits', id, '--session-token-limit', 'lots']);
    expect(nan.code).toBe(2);
    expect(nan.out.stderr).toContain('--session-token-limit: expected an integer');
    const zone = await cli(['agents', 'set-limits', id, '--time-zone', 'Mars/Olympus']);
    expect(zone.code).toBe(1);
    expect(zone.out.stderr).toMatch(/^VALIDATION_FAILED: .*body\.time_zone/);
  });

  it('verify: exit 0 when valid, 1 when suspended', async () => {
    const { id, key } = await register();
    const ok = await cli(['agents', 'verify', id, '--token', key]);
    expect(ok.code).toBe(0);
    expect(ok.out.text).toEqual([`Agent ${id} is valid.`]);
    await tg.identity.suspendAgent(id);
    const ko = await cli(['agents', 'verify', id, '--json']);
    expect(ko.code).toBe(1);
    expect(only(ko.out)).toEqual({ valid: false, reason: 'Agent is suspended' });
  });
});

describe('tollgate sessions start / end', () => {
  it('start opens a session; end closes the current one (or the one named) and prints its summary', async () => {
    const { id, key } = await register();
    const before = (await tg.budget.getBudgetStatus(id))?.session.session_id;
    const started = await cli(['sessions', 'start', id, '--json'], { TOLLGATE_ADMIN_TOKEN: key });
    const s = only(started.out);
    expect(s.session_id).toMatch(new RegExp(`^${id}\\.[0-9a-f]{16}$`));
    expect(s.session_id).not.toBe(before);
    await tg.budget.deductBudget(id, 1000, 500);
    const ended = await cli(['sessions', 'end', id]);
    expect(ended.code, ended.out.stderr).toBe(0);
    expect(ended.out.text[0]).toBe(`Ended session ${s.session_id} of ${id}.`);
    expect(ended.out.stdout).toMatch(/tokens used:\s+1,500/);
    const next = (await tg.budget.getBudgetStatus(id))?.session.session_id;
    expect(ended.out.stdout).toContain(`next session:  ${next}`);
    // Named: it must be the current one.
    const old = await cli(['sessions', 'end', id, s.session_id]);
    expect(old.code).toBe(0); // the session ended last: its summary again (a retry)
    const wrong = await cli(['sessions', 'end', id, `${id}.0123456789abcdef`]);
    expect(wrong.code).toBe(1);
    expect(wrong.out.stderr).toMatch(/^NOT_FOUND: .*HTTP 404 from DELETE /);
  });
});

describe('tollgate authorize / settle / release / usage', () => {
  it('authorize holds (exit 0), settle records, release frees; a denial exits 3', async () => {
    const { id, key } = await register('coder');
    const asAgent = { TOLLGATE_ADMIN_TOKEN: key };
    const a = await cli(
      ['authorize', id, 'write_file', '--estimated-tokens', '3000', '--json'],
      asAgent,
    );
    expect(a.code).toBe(0);
    const d = only(a.out);
    expect(d).toMatchObject({ allowed: true, replayed: false });
    const settled = await cli(
      ['settle', d.reservation_id, '--input-tokens', '1200', '--output-tokens', '900'],
      asAgent,
    );
    expect(settled.code, settled.out.stderr).toBe(0);
    expect(settled.out.text[0]).toMatch(new RegExp(`^Settled ${d.reservation_id}: cost \\$`));
    const twice = await cli(
      ['settle', d.reservation_id, '--input-tokens', '1200', '--output-tokens', '900'],
      asAgent,
    );
    expect(twice.out.text[0]).toContain('already settled');
    expect((await tg.budget.getBudgetStatus(id))?.session.tokens_used).toBe(2100);

    const held = await cli(['authorize', id, 'read_file', '--estimated-tokens', '500']);
    expect(held.code).toBe(0);
    expect(held.out.text[0]).toBe(`Allowed: read_file for ${id}.`);
    const rid = /reservation:\s+(\S+)/.exec(held.out.stdout)?.[1] ?? '';
    expect((await tg.budget.getBudgetStatus(id))?.session.tokens_reserved).toBe(500);
    const rel = await cli(['release', rid]);
    expect(rel.out.text).toEqual([`Released ${rid}.`]);
    expect((await tg.budget.getBudgetStatus(id))?.session.tokens_reserved).toBe(0);

    const denied = await cli(['authorize', id, 'deploy']);
    expect(denied.code).toBe(3);
    expect(denied.out.text[0]).toMatch(/^Denied: RBAC_DENIED: /);
    const deniedJson = await cli(['authorize', id, 'deploy', '--json']);
    expect(deniedJson.code).toBe(3);
    expect(only(deniedJson.out)).toMatchObject({ allowed: false, error_code: 'RBAC_DENIED' });
  });

  it('usage records with nothing held; a usage id counts once; options are checked first', async () => {
    const { id } = await register();
    const u = await cli([
      'usage',
      id,
      '--input-tokens',
      '300',
      '--output-tokens',
      '200',
      '--usage-id',
      `u-${id}`,
      '--json',
    ]);
    expect(only(u.out)).toMatchObject({ replayed: false });
    const again = await cli([
      'usage',
      id,
      '--input-tokens',
      '300',
      '--output-tokens',
      '200',
      '--usage-id',
      `u-${id}`,
    ]);
    expect(again.out.text[0]).toContain('recorded before');
    expect((await tg.budget.getBudgetStatus(id))?.session.tokens_used).toBe(500);
    const missing = await cli(['usage', id, '--input-tokens', '1']);
    expect(missing.code).toBe(2);
    expect(missing.out.stderr).toContain('missing --output-tokens <n>');
    const result = await cli([
      'settle',
      `${id}.0123456789abcdef`,
      '--input-tokens',
      '1',
      '--output-tokens',
      '1',
      '--result',
      'meh',
    ]);
    expect(result.code).toBe(2);
    expect(result.out.stderr).toContain('--result: expected success, failure');
  });
});
