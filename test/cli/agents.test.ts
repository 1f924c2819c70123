import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/index.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { uid } from '../support/engines.js';
import { only, runWith } from './harness.js';

const ADMIN = 'cli-admin-token-0123456789abcdef';

let tg: Tollgate;
let server: Server;
let base: string;
let env: NodeJS.ProcessEnv;

/** Runs the CLI with the test API's address and admin token in the environment. */
const cli = (argv: string[], extraEnv?: NodeJS.ProcessEnv) => runWith(env, argv, extraEnv);

/** The JSON value a `--json` command printed (exactly one). */

async function register(role = 'coder'): Promise<{ id: string; key: string }> {
  const id = uid('cli');
  const { code, out } = await cli(['agents', 'register', id, '--role', role, '--json']);
  expect(code).toBe(0);
  return { id, key: only(out).api_key };
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

describe('tollgate agents register', () => {
  it('prints the record and the API key, noting it is shown once; the key works', async () => {
    const id = uid('cli');
    const { code, out } = await cli([
      'agents',
      'register',
      id,
      '--role',
      'coder',
      '--metadata',
      '{"team":"payments","tier":2}',
    ]);
    expect(code).toBe(0);
    expect(out.errors).toEqual([]);
    const text = out.stdout;
    expect(text).toContain(`Registered agent ${id}.`);
    expect(text).toMatch(/role:\s+coder/);
    expect(text).toMatch(/status:\s+active/);
    expect(text).toMatch(/permissions:\s+read_file, write_file, run_tests/);
    expect(text).toContain('{"team":"payments","tier":2}');
    expect(text).toMatch(/shown once/i);
    // The key is the indented line after the notice (whatever its format).
    const notice = out.text.findIndex((l) => /API key/.test(l));
    const key = out.text[notice + 1]?.trim() ?? '';
    expect(key.length).toBeGreaterThan(20);
    // The agent's own key reaches its own status.
    const self = await cli(['status', id, '--json'], { TOLLGATE_ADMIN_TOKEN: key });
    expect(self.code).toBe(0);
    expect(only(self.out)).toMatchObject({ agent_id: id, role: 'coder' });
  });

  it('--json prints the API answer with api_key and metadata', async () => {
    const id = uid('cli');
    const { code, out } = await cli([
      'agents',
      'register',
      id,
      '--role=researcher',
      '--metadata={"owner":"ops"}',
      '--json',
    ]);
    expect(code).toBe(0);
    const v = only(out);
    expect(v).toMatchObject({
      agent_id: id,
      role: 'researcher',
      status: 'active',
      metadata: { owner: 'ops' },
    });
    expect(typeof v.api_key).toBe('string');
    expect(typeof v.session_id).toBe('string');
  });

  it.each([
    ['not JSON', '{team:payments}', 'not valid JSON'],
    ['an array', '[1,2]', 'expected a JSON object'],
    ['null', 'null', 'expected a JSON object'],
    ['a string', '"x"', 'expected a JSON object'],
  ])('refuses a --metadata that is %s (exit 2) and registers nothing', async (_n, meta, msg) => {
    const id = uid('cli');
    const { code, out } = await cli([
      'agents',
      'register',
      id,
      '--role',
      'coder',
      '--metadata',
      meta,
    ]);
    expect(code).toBe(2);
    expect(out.stderr).toContain('--metadata');
    expect(out.stderr).toContain(msg);
    expect(out.stderr).toContain('Usage: tollgate agents register');
    expect(out.text).toEqual([]);
    const show = await cli(['agents', 'show', id]);
    expect(show.code).toBe(1);
    expect(show.out.stderr).toMatch(/^NOT_FOUND: /);
  });

  it('needs --role and an id (exit 2)', async () => {
    const noRole = await cli(['agents', 'register', uid('cli')]);
    expect(noRole.code).toBe(2);
    expect(noRole.out.stderr).toContain('missing --role <role>');
    const noId = await cli(['agents', 'register', '--role', 'coder']);
    expect(noId.code).toBe(2);
    expect(noId.out.stderr).toContain('missing <id>');
  });

  it('passes API refusals on as CODE: message with exit 1', async () => {
    const { id } = await register();
    const dup = await cli(['agents', 'register', id, '--role', 'coder']);
    expect(dup.code).toBe(1);
    expect(dup.out.stderr).toMatch(/^CONFLICT: /);
    const bad = await cli(['agents', 'register', 'bad:id{x}', '--role', 'coder']);
    expect(bad.code).toBe(1);
    expect(bad.out.stderr).toMatch(/^VALIDATION_FAILED: .*agent_id/);
  });
});

describe('tollgate agents list / show', () => {
  it('list prints a table with the agents, --json their records, filters by role and status', async () => {
    const a = await register('coder');
    const b = await register('researcher');
    const table = await cli(['agents', 'list']);
    expect(table.code).toBe(0);
    expect(table.out.text[0]).toMatch(/^AGENT\s+ROLE\s+STATUS\s+SESSION\s+CREATED$/);
    expect(table.out.text.find((l) => l.startsWith(`${a.id} `))).toMatch(
      new RegExp(`^${a.id}\\s+coder\\s+active\\s+${a.id}\\.`),
    );
    expect(table.out.stdout).toContain(b.id);
    expect(table.out.text.at(-1)).toMatch(/^\d+ agents?$/);

    const json = await cli(['agents', 'list', '--json']);
    expect(json.code).toBe(0);
    const ids = (only(json.out).agents as { agent_id: string }[]).map((x) => x.agent_id);
    expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
    expect([...ids].sort()).toEqual(ids);

    expect((await cli(['agents', 'suspend', b.id])).code).toBe(0);
    const suspended = await cli(['agents', 'list', '--status', 'suspended', '--json']);
    const sIds = (only(suspended.out).agents as { agent_id: string; status: string }[]).map(
      (x) => x.agent_id,
    );
    expect(sIds).toContain(b.id);
    expect(sIds).not.toContain(a.id);
    const coders = await cli(['agents', 'list', '--role', 'coder', '--json']);
    const roles = new Set((only(coders.out).agents as { role: string }[]).map((x) => x.role));
    expect([...roles]).toEqual(['coder']);

    const bad = await cli(['agents', 'list', '--status', 'asleep']);
    expect(bad.code).toBe(2);
    expect(bad.out.stderr).toContain('--status');
  });

  it('show prints the record, --json the API answer', async () => {
    const { id } = await register('coder');
    const lines = await cli(['agents', 'show', id]);
    expect(lines.code).toBe(0);
    expect(lines.out.stdout).toMatch(new RegExp(`agent:\\s+${id}`));
    expect(lines.out.stdout).toMatch(/metadata:\s+\{\}/);
    const json = await cli(['agents', 'show', id, '--json']);
    expect(only(json.out)).toMatchObject({ agent_id: id, role: 'coder', status: 'active' });
    expect(only(json.out).api_key).toBeUndefined();
  });
});

describe('tollgate agents suspend / resume / rotate-key / delete', () => {
  it('suspend and resume change the status; the gate follows', async () => {
    const { id } = await register();
    const s = await cli(['agents', 'suspend', id]);
    expect(s.code).toBe(0);
    expect(s.out.text).toEqual([`Agent ${id} is suspended.`]);
    const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 10 });
    expect(d).toMatchObject({ allowed: false, error_code: 'AGENT_SUSPENDED' });
    const r = await cli(['agents', 'resume', id, '--json']);
    expect(r.code).toBe(0);
    expect(only(r.out)).toMatchObject({ agent_id: id, status: 'active' });
  });

  it('rotate-key prints a new key (shown once); the old key stops working', async () => {
    const { id, key: oldKey } = await register();
    const rot = await cli(['agents', 'rotate-key', id]);
    expect(rot.code).toBe(0);
    expect(rot.out.text[0]).toMatch(/shown once.*old key no longer works/);
    const newKey = rot.out.text[1]?.trim() ?? '';
    expect(newKey).not.toBe(oldKey);
    expect(newKey.length).toBeGreaterThan(20);
    const withOld = await cli(['status', id], { TOLLGATE_ADMIN_TOKEN: oldKey });
    expect(withOld.code).toBe(1);
    expect(withOld.out.stderr).toMatch(/^UNAUTHENTICATED: /);
    const withNew = await cli(['agents', 'show', id, '--token', newKey]);
    expect(withNew.code).toBe(0);
    const json = await cli(['agents', 'rotate-key', id, '--json']);
    expect(only(json.out)).toMatchObject({ agent_id: id, api_key: expect.any(String) });
  });

  it('delete removes the agent and prints its last usage', async () => {
    const { id } = await register();
    await tg.budget.deductBudget(id, 1000, 500);
    const del = await cli(['agents', 'delete', id]);
    expect(del.code).toBe(0);
    expect(del.out.text).toEqual([
      `Deleted agent ${id} (session tokens used 1,500, cost today $0.0105).`,
    ]);
    const again = await cli(['agents', 'delete', id, '--json']);
    expect(again.code).toBe(1);
    expect(again.out.stderr).toMatch(/^NOT_FOUND: /);
    const { id: id2 } = await register();
    const json = await cli(['agents', 'delete', id2, '--json']);
    expect(only(json.out)).toMatchObject({ agent_id: id2, deleted: true });
  });

  it('an agent key on an admin command is FORBIDDEN (exit 1)', async () => {
    const { id, key } = await register();
    const r = await cli(['agents', 'suspend', id, '--token', key]);
    expect(r.code).toBe(1);
    expect(r.out.stderr).toMatch(/^FORBIDDEN: /);
  });
});

describe('tollgate status', () => {
  it('prints the budget status as lines, and as JSON with --json', async () => {
    const { id } = await register('coder');
    const d = await tg.guard.checkPermission(id, 'write_file', { estimatedTokens: 3000 });
    expect(d.allowed).toBe(true);
    if (!d.allowed) return;
    await tg.guard.recordOperation(
      id,
      'write_file',
      { inputTokens: 1200, outputTokens: 900 },
      'success',
      d.reservation_id,
    );
    await tg.guard.checkPermission(id, 'write_file', { estimatedTokens: 1000 }); // held
    await tg.guard.checkPermission(id, 'deploy', { estimatedTokens: 10 }); // blocked

    const lines = await cli(['status', id]);
    expect(lines.code).toBe(0);
    const t = lines.out.stdout;
    expect(lines.out.text[0]).toBe(`Agent ${id} (role coder)`);
    expect(t).toMatch(/tokens used:\s+2,100 \/ 80,000 \(2\.62%\)/);
    expect(t).toMatch(/reserved:\s+1,000\n/);
    expect(t).toMatch(/remaining:\s+76,900/);
    expect(t).toMatch(/cost used:\s+\$0\.0171 \/ \$8\.00/);
    expect(t).toContain('Operations blocked: 1');
    expect(t).not.toContain('EXHAUSTED');

    const json = await cli(['status', id, '--json']);
    expect(json.code).toBe(0);
    expect(only(json.out)).toMatchObject({
      agent_id: id,
      session: { tokens_used: 2100, tokens_reserved: 1000, tokens_limit: 80000 },
      daily: { cost_used: 0.0171, cost_limit: 8 },
      operations_blocked: 1,
    });
  });

  it('shows overruns (usage settled above its hold) and an agent over its limit', async () => {
    const { id } = await register('coder');
    await tg.budget.setLimits(id, { sessionTokenLimit: 1500 });
    const plain = await cli(['status', id]);
    expect(plain.out.stdout).not.toContain('overrun');
    expect(plain.out.stdout).not.toContain('Over limit');
    const d = await tg.guard.checkPermission(id, 'write_file', { estimatedTokens: 1000 });
    if (!d.allowed) throw new Error('expected an allowed decision');
    const r = await tg.guard.recordOperation(
      id,
      'write_file',
      { inputTokens: 1000, outputTokens: 1000 },
      'success',
      d.reservation_id,
    );
    expect(r).toMatchObject({ overrun_tokens: 1000, overrun_cost: 0.003 });
    const lines = await cli(['status', id]);
    expect(lines.code).toBe(0);
    const t = lines.out.stdout;
    expect(t).toMatch(/tokens used:\s+2,000 \/ 1,500/);
    expect(t).toMatch(/overrun:\s+1,000\n/);
    expect(t).toMatch(/overrun:\s+\$0\.003\n/);
    expect(t).toContain('Over limit');
    const json = await cli(['status', id, '--json']);
    expect(only(json.out)).toMatchObject({
      session: { tokens_overrun: 1000 },
      daily: { cost_overrun: 0.003 },
      is_over_limit: true,
    });
  });

  it('an unknown agent is NOT_FOUND with exit 1 (status, show, suspend, resume, rotate-key)', async () => {
    const ghost = uid('ghost');
    for (const argv of [
      ['status', ghost],
      ['agents', 'show', ghost],
      ['agents', 'suspend', ghost],
      ['agents', 'resume', ghost],
      ['agents', 'rotate-key', ghost],
    ]) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.out.stderr).toMatch(
        new RegExp(
          `^NOT_FOUND: Agent ${ghost} not found \\(HTTP 404 from (GET|POST) ${base}/v1/agents/${ghost}[/a-z]*\\)$`,
        ),
      );
      expect(r.out.text).toEqual([]);
    }
  });
});

describe('operator commands: configuration and usage errors', () => {
  it('a missing token names TOLLGATE_ADMIN_TOKEN and --token (exit 2, nothing sent)', async () => {
    const r = await cli(['agents', 'list'], { TOLLGATE_ADMIN_TOKEN: undefined });
    expect(r.code).toBe(2);
    expect(r.out.stderr).toContain('TOLLGATE_ADMIN_TOKEN: is not set');
    expect(r.out.stderr).toContain('--token');
    const blank = await cli(['status', 'x'], { TOLLGATE_ADMIN_TOKEN: '  ' });
    expect(blank.code).toBe(2);
    expect(blank.out.stderr).toContain('TOLLGATE_ADMIN_TOKEN: is not set');
    const flag = await cli(['status', 'x', '--token', '']);
    expect(flag.code).toBe(2);
    expect(flag.out.stderr).toContain('--token: is empty');
    const spaced = await cli(['status', 'x', '--token', 'a b']);
    expect(spaced.code).toBe(2);
    expect(spaced.out.stderr).toContain('--token: must be printable ASCII');
    expect(spaced.out.stderr).not.toContain('a b');
  });

  it('a bad URL names TOLLGATE_URL or --url (exit 2)', async () => {
    const e = await cli(['agents', 'list'], { TOLLGATE_URL: 'localhost:8080' });
    expect(e.code).toBe(2);
    expect(e.out.stderr).toContain('TOLLGATE_URL: expected an http:// or https:// URL');
    const f = await cli(['agents', 'list', '--url', 'redis://x:1']);
    expect(f.code).toBe(2);
    expect(f.out.stderr).toContain('--url: expected an http:// or https:// URL, got "redis://x:1"');
    const both = await cli(['agents', 'list', '--url', 'nope'], { TOLLGATE_ADMIN_TOKEN: '' });
    expect(both.out.stderr).toMatch(/--url: .*; TOLLGATE_ADMIN_TOKEN: /);
  });

  it('--url and --token flags win over the environment', async () => {
    const r = await cli(['agents', 'list', '--json', '--url', base, '--token', ADMIN], {
      TOLLGATE_URL: 'http://127.0.0.1:1',
      TOLLGATE_ADMIN_TOKEN: 'wrong-token-wrong-token',
    });
    expect(r.code).toBe(0);
    expect(Array.isArray(only(r.out).agents)).toBe(true);
  });

  it('a wrong token is UNAUTHENTICATED and an unreachable API is NETWORK_ERROR (exit 1)', async () => {
    const wrong = await cli(['agents', 'list'], {
      TOLLGATE_ADMIN_TOKEN: 'not-the-admin-token-123',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.out.stderr).toMatch(/^UNAUTHENTICATED: /);
    const down = await cli(['agents', 'list'], { TOLLGATE_URL: 'http://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.out.stderr).toMatch(/^NETWORK_ERROR: /);
  });

  it('unknown flags, extra arguments and unknown commands are usage errors (exit 2)', async () => {
    const flag = await cli(['agents', 'list', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.out.stderr).toContain("Unknown option '--bogus'");
    const extra = await cli(['status', 'a', 'b']);
    expect(extra.code).toBe(2);
    expect(extra.out.stderr).toContain('unexpected argument: b');
    const missing = await cli(['status']);
    expect(missing.code).toBe(2);
    expect(missing.out.stderr).toContain('missing <agent>');
    const sub = await cli(['agents', 'fly']);
    expect(sub.code).toBe(2);
    expect(sub.out.stderr).toContain('unknown command: agents fly');
    const none = await cli(['agents']);
    expect(none.code).toBe(2);
    expect(none.out.stdout).toContain('tollgate agents register');
  });

  it.each([
    'agents register',
    'agents list',
    'agents show',
    'agents suspend',
    'agents resume',
    'agents rotate-key',
    'agents delete',
    'status',
  ])('%s --help prints its usage (exit 0, no token needed)', async (cmd) => {
    const r = await cli([...cmd.split(' '), '--help'], { TOLLGATE_ADMIN_TOKEN: undefined });
    expect(r.code).toBe(0);
    const text = r.out.stdout;
    expect(text.startsWith(`Usage: tollgate ${cmd}`)).toBe(true);
    expect(text).toContain('--url <url>');
    expect(text).toContain('--token <token>');
    expect(text).toContain('--json');
    expect(text).toContain('Example:');
  });

  it('agents --help and the top-level help list every operator command', async () => {
    const g = await cli(['agents', '--help']);
    expect(g.code).toBe(0);
    for (const c of ['register', 'list', 'show', 'suspend', 'resume', 'rotate-key', 'delete']) {
      expect(g.out.stdout).toContain(`tollgate agents ${c}`);
    }
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const c of [
      'agents register',
      'agents list',
      'agents rotate-key',
      'status <agent>',
      'serve',
      'demo',
      'policy check',
    ]) {
      expect(top.out.stdout).toContain(`tollgate ${c}`);
    }
    expect(top.out.stdout).toContain('TOLLGATE_URL');
  });
});
