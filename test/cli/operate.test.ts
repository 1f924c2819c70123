/**
 * The operator's reads and pools: spend, dashboard, health, ready, openapi,
 * metrics, pools and agents move; and errors that name what failed (the URL,
 * the status). In process (runCli) against an embedded Tollgate whose drain
 * stores into a fresh PostgreSQL schema.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/index.js';
import type { PostgresStore } from '../../src/audit/store/index.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { uid } from '../support/engines.js';
import { only, runWith } from './harness.js';

const ADMIN = 'cli-operate-admin-token-0123456789';
const schema = `tg_cli_operate_${randomBytes(4).toString('hex')}`;

let tg: Tollgate;
let server: Server;
let base: string;
let env: NodeJS.ProcessEnv;

const cli = (argv: string[], extraEnv?: NodeJS.ProcessEnv) => runWith(env, argv, extraEnv);

function listen(s: Server): Promise<string> {
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`),
    ),
  );
}

function close(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}

beforeAll(async () => {
  tg = await createTollgate({
    store: { databaseUrl: inject('databaseUrl'), schema },
    drain: { intervalMs: 60_000 },
  });
  server = createServer(createApp({ tollgate: tg, adminToken: ADMIN }));
  base = await listen(server);
  env = { TOLLGATE_URL: base, TOLLGATE_ADMIN_TOKEN: ADMIN };
});

afterAll(async () => {
  await close(server);
  // Everything stored first: then the schema goes, and closing has nothing left to store.
  await tg.drain?.flush();
  await (tg.store as PostgresStore).pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await tg.close();
});

describe('tollgate spend / dashboard', () => {
  it("spend sums the store's settles by model or role; dashboard shows the rows and the day", async () => {
    const id = uid('op');
    await tg.identity.registerAgent(id, 'coder');
    await tg.budget.deductBudget(id, 1000, 500);
    await tg.drain?.flush();

    const byModel = await cli(['spend', '--json']);
    const s = only(byModel.out);
    expect(s.group_by).toBe('model');
    expect(s.rows.length).toBeGreaterThan(0);
    const byRole = await cli(['spend', '--group-by', 'role', '--agent', id]);
    expect(byRole.code, byRole.out.stderr).toBe(0);
    expect(byRole.out.text[0]).toMatch(new RegExp(`^Spend by role of ${id}, `));
    expect(byRole.out.stdout).toMatch(/^coder\s+\$0\.0105\s+1,000\s+500\s+1\s+0$/m);
    const bad = await cli(['spend', '--group-by', 'planet']);
    expect(bad.code).toBe(2);
    expect(bad.out.stderr).toContain('--group-by: expected model, role, operation, agent_id');

    const rows = await cli(['dashboard']);
    expect(rows.code).toBe(0);
    expect(rows.out.text[0]).toMatch(
      /^AGENT\s+ROLE\s+STATUS\s+SESSION\s+DAILY\s+COST TODAY\s+BLOCKED$/,
    );
    expect(rows.out.stdout).toMatch(new RegExp(`^${id}\\s+coder\\s+ACTIVE`, 'm'));
    const day = await cli(['dashboard', 'spend', '--json']);
    expect(only(day.out).roles.map((r: { role: string }) => r.role)).toContain('coder');
    const range = await cli(['dashboard', 'history', '--json']);
    const h = only(range.out);
    expect(h.days).toHaveLength(30);
    expect(h.by_role.map((r: { key: string }) => r.key)).toContain('coder');
    const today = new Date().toISOString().slice(0, 10);
    const text = await cli(['dashboard', 'history', '--from', today, '--to', today]);
    expect(text.code, text.out.stderr).toBe(0);
    expect(text.out.text[0]).toMatch(new RegExp(`^Spend from ${today} to ${today} \\(UTC\\): \\$`));
    expect(text.out.stdout).toMatch(/^ROLE\s+COST\s+TOKENS IN\s+TOKENS OUT\s+EVENTS$/m);
    expect(text.out.stdout).toMatch(/^coder\s+\$/m);
  });
});

describe('tollgate health / ready / openapi / metrics', () => {
  it('the open routes need no token; metrics takes the admin token', async () => {
    const noToken = { TOLLGATE_ADMIN_TOKEN: undefined };
    const h = await cli(['health'], noToken);
    expect(h.out.text).toEqual(['Up: status ok.']);
    const r = await cli(['ready', '--json'], noToken);
    expect(only(r.out)).toMatchObject({ status: 'ready', engine: 'memory', policy: 'loaded' });
    const o = await cli(['openapi'], noToken);
    const doc = only(o.out);
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.paths)).toContain('/v1/agents/{id}');
    const m = await cli(['metrics']);
    expect(m.code).toBe(0);
    expect(m.out.stdout).toContain('# TYPE');
    const refused = await cli(['metrics'], noToken);
    expect(refused.code).toBe(1);
    expect(refused.out.stderr).toMatch(/^UNAUTHENTICATED: .*\(HTTP 401 from GET .*\/metrics\)$/);
  });
});

describe('tollgate pools / agents move', () => {
  it('creates, lists, shows, updates and deletes pools; moves agents in and out', async () => {
    const root = uid('pool');
    const child = uid('pool');
    const c = await cli(['pools', 'create', root, '--daily-cost-limit', '100', '--json']);
    expect(only(c.out)).toMatchObject({ pool_id: root, depth: 1, daily: { cost_limit: 100 } });
    const c2 = await cli(['pools', 'create', child, '--parent', root]);
    expect(c2.code, c2.out.stderr).toBe(0);
    expect(c2.out.stdout).toMatch(new RegExp(`parent:\\s+${root}`));

    const id = uid('op');
    const reg = await cli(['agents', 'register', id, '--role', 'coder', '--pool', child, '--json']);
    expect(only(reg.out)).toMatchObject({ agent_id: id, pool_id: child });
    const moved = await cli(['agents', 'move', id, root]);
    expect(moved.out.text).toEqual([`Agent ${id} is in pool ${root}.`]);
    const inRoot = await cli(['agents', 'list', '--pool', root, '--json']);
    expect(only(inRoot.out).agents.map((a: { agent_id: string }) => a.agent_id)).toEqual([id]);
    const shown = await cli(['pools', 'show', root]);
    expect(shown.out.stdout).toMatch(new RegExp(`agents:\\s+1: ${id}`));
    expect(shown.out.stdout).toMatch(new RegExp(`pools:\\s+1: ${child}`));
    const list = await cli(['pools', 'list']);
    expect(list.out.stdout).toMatch(new RegExp(`^${child}\\s+${root}\\s+2\\s`, 'm'));

    const up = await cli(['pools', 'update', root, '--monthly-cost-limit', '2000', '--json']);
    expect(only(up.out)).toMatchObject({ monthly: { cost_limit: 2000 } });
    const noop = await cli(['pools', 'update', root]);
    expect(noop.code).toBe(2);

    const busy = await cli(['pools', 'delete', root]);
    expect(busy.code).toBe(1);
    expect(busy.out.stderr).toMatch(
      new RegExp(`^CONFLICT: .*\\(HTTP 409 from DELETE ${base}/v1/pools/${root}\\)$`),
    );
    const neither = await cli(['agents', 'move', id]);
    expect(neither.code).toBe(2);
    expect((await cli(['agents', 'move', id, '--no-pool'])).out.text).toEqual([
      `Agent ${id} is in no pool.`,
    ]);
    expect((await cli(['pools', 'delete', child])).code).toBe(0);
    const gone = await cli(['pools', 'delete', root, '--json']);
    expect(only(gone.out)).toMatchObject({ pool_id: root, deleted: true });
  });
});

describe('tollgate webhooks', () => {
  it('adds, lists and deletes webhooks (never showing the secret); dead letters and retry', async () => {
    const secret = `s-${'x'.repeat(20)}`;
    const added = await cli([
      'webhooks',
      'add',
      'https://ops.example.com/hook',
      '--secret',
      secret,
      '--json',
    ]);
    const w = only(added.out);
    expect(w).toMatchObject({ url: 'https://ops.example.com/hook', events: ['budget_alert'] });
    const list = await cli(['webhooks', 'list']);
    expect(list.out.stdout).toMatch(
      new RegExp(`^${w.id}\\s+https://ops\\.example\\.com/hook\\s+budget_alert\\s`, 'm'),
    );
    expect(list.out.stdout).not.toContain(secret);
    const noSecret = await cli(['webhooks', 'add', 'https://ops.example.com/hook']);
    expect(noSecret.code).toBe(2);
    expect(noSecret.out.stderr).toContain('missing --secret <secret>');
    const dead = await cli(['webhooks', 'dead-letters', '--json']);
    expect(only(dead.out)).toEqual({ dead_letters: [] });
    const retry = await cli(['webhooks', 'retry', `01a21767-1012-7a92-9e7b-b8e1164aef00.${w.id}`]);
    expect(retry.code).toBe(1);
    expect(retry.out.stderr).toMatch(/^NOT_FOUND: .*\(HTTP 404 from POST /);
    const del = await cli(['webhooks', 'delete', w.id]);
    expect(del.out.text).toEqual([`Deleted webhook ${w.id}.`]);
    expect((await cli(['webhooks', 'list'])).out.stdout).not.toContain(w.id);
  });
});

describe('errors name what failed', () => {
  it('nothing listening: NETWORK_ERROR with the URL and the cause', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await close(closed);
    const r = await cli(['agents', 'list', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.out.stderr).toBe(
      `NETWORK_ERROR: cannot reach ${url}/v1/agents (GET): connect ECONNREFUSED ${url.slice('http://'.length)}`,
    );
  });

  it('a port fetch refuses (the issue’s --url http://localhost:1) says so, with the URL', async () => {
    const r = await cli(['status', 'x', '--url', 'http://localhost:1']);
    expect(r.code).toBe(1);
    expect(r.out.stderr).toMatch(
      /^NETWORK_ERROR: cannot reach http:\/\/localhost:1\/v1\/agents\/x\/budget \(GET\): fetch refuses this port/,
    );
  });

  it('something else answering: HTTP_ERROR with the status and the URL', async () => {
    const other = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>Bad Gateway</body></html>');
    });
    const url = await listen(other);
    try {
      const r = await cli(['agents', 'show', 'x', '--url', url]);
      expect(r.code).toBe(1);
      expect(r.out.stderr).toBe(
        `HTTP_ERROR: GET ${url}/v1/agents/x answered HTTP 502: <html><body>Bad Gateway</body></html>`,
      );
    } finally {
      await close(other);
    }
  });

  it('a request with several bad fields: every field, the status and the request', async () => {
    const r = await cli(['agents', 'register', 'bad:id', '--role', 'bad role']);
    expect(r.code).toBe(1);
    expect(r.out.stderr).toMatch(
      new RegExp(
        `^VALIDATION_FAILED: Invalid request: body\\.agent_id: .*; body\\.role: .* \\(HTTP 400 from POST ${base}/v1/agents\\)$`,
      ),
    );
    expect(r.out.stderr).not.toContain('api_key');
  });
});
