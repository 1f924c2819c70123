/**
 * The policy changed at runtime (docs/policy.md, "Changing the policy at
 * runtime") across processes: three `tollgate serve` (from source) on the
 * run's Redis and a fresh PostgreSQL database of their own. A PUT through one
 * is seen by the other two within 2 s (each polls the store every second); a
 * bad change is refused with every problem and nothing applied anywhere; the
 * change is stored as a policy_changed event; a process started again takes
 * the stored version over its file. Then the library on its own: the stored
 * version survives a restart, and a shared engine without a store refuses.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTollgate } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../setup/postgres.js';
import { uid } from '../support/engines.js';
import { spawnServe, stopProcess } from '../support/serve-process.js';
import { startApi } from './harness.js';

const ADMIN = 'policy-admin-token-0123456789abcdef';
const PROCESSES = 3;
/** How soon every process must apply a change (the brief's figure; each polls every second). */
const APPLIED_WITHIN_MS = 2_000;

interface Serve {
  url: string;
  proc: ChildProcess;
  output: () => string;
}

const dir = mkdtempSync(join(tmpdir(), 'tg-policy-rt-'));
const FILE = join(dir, 'policy.yaml');
// The file all three start with: coder may not deploy.
writeFileSync(FILE, 'roles:\n  coder: { permissions: [read_file, model_call] }\n');
let db: TestDatabase;
const children: ChildProcess[] = [];
let serves: Serve[] = [];

async function startServe(): Promise<Serve> {
  const dataDir = mkdtempSync(join(dir, 'data-'));
  const { proc, output } = await spawnServe(
    {
      REDIS_URL: inject('redisUrl'),
      REDIS_CLUSTER_NODES: '',
      DATABASE_URL: db.url,
      TOLLGATE_POLICY: FILE,
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_ADMIN_TOKEN: ADMIN,
      PORT: '',
    },
    /Tollgate listening on http:\/\/localhost:\d+\n[\s\S]*\}\s*$/,
  );
  children.push(proc);
  const url = /Tollgate listening on (http:\/\/localhost:\d+)/.exec(output())?.[1] ?? '';
  return { url, proc, output };
}

async function call(
  s: Serve,
  method: string,
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: response JSON, checked by each test
): Promise<{ status: number; body: any }> {
  const res = await fetch(s.url + path, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

const serve = (i: number) => serves[i] as Serve;

beforeAll(async () => {
  db = await createTestDatabase();
  serves = await Promise.all(Array.from({ length: PROCESSES }, () => startServe()));
}, 90_000);

afterAll(async () => {
  await Promise.all(children.map(stopProcess));
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const agent = uid('pol');

describe('a policy change across three API processes', () => {
  it('a PUT through one is applied by the other two within 2 s', { timeout: 30_000 }, async () => {
    for (const s of serves) {
      const g = await call(s, 'GET', '/v1/policy');
      expect(g.body).toMatchObject({ version: 0, source: 'file', set_by: 'file', file: FILE });
    }
    expect(
      (await call(serve(0), 'POST', '/v1/agents', { agent_id: agent, role: 'coder' })).status,
    ).toBe(201);
    const denied = await call(serve(2), 'POST', '/v1/authorize', {
      agent_id: agent,
      operation: 'deploy',
    });
    expect(denied.body.error_code).toBe('RBAC_DENIED');

    const put = await call(serve(0), 'PUT', '/v1/policy', {
      roles: { coder: { permissions: ['read_file', 'deploy', 'model_call'] } },
      operations: { deploy: { estimated_tokens: 12_000 } },
    });
    expect(put.status).toBe(200);
    const deadline = Date.now() + APPLIED_WITHIN_MS;
    expect(put.body).toMatchObject({ version: 1, previous_version: 0, changed: true });
    expect(put.body.changes.map((c: { path: string }) => c.path)).toEqual([
      'roles.coder.permissions',
      'operations.deploy.estimated_tokens',
    ]);
    // Polled with a deadline: each process must show version 1 before it.
    for (const i of [1, 2]) {
      for (;;) {
        const g = await call(serve(i), 'GET', '/v1/policy');
        if (g.body.version === 1) {
          expect(g.body).toMatchObject({ source: 'runtime', set_by: 'admin' });
          break;
        }
        if (Date.now() > deadline)
          throw new Error(`process ${i} still at version ${g.body.version}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // Applied, not only shown: the decision on another process follows the new policy.
    const allowed = await call(serve(2), 'POST', '/v1/authorize', {
      agent_id: agent,
      operation: 'deploy',
    });
    expect(allowed.body).toMatchObject({ allowed: true });
    expect((await call(serve(1), 'GET', '/v1/policy')).body.policy.operations.deploy).toEqual({
      estimated_tokens: 12_000,
    });
  });

  it('a bad change is refused with every problem, and nothing is applied anywhere', async () => {
    const bad = await call(serve(1), 'PUT', '/v1/policy', {
      roles: {
        coder: { session_token_limit: -1, permissions: ['read_file'] },
        'bad role': { daily_cost_limit: 1 },
        tester: { time_zone: 'Mars/Olympus' },
      },
      default_estimate: 0,
      pools: [{ pool_id: 'p1', parent: 'nowhere' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    const paths = bad.body.error.details.issues.map((i: { path: string }) => i.path);
    for (const p of [
      'body.roles.coder.session_token_limit',
      'body.roles["bad role"]',
      'body.roles["bad role"].session_token_limit',
      'body.roles.tester.time_zone',
      'body.default_estimate',
      'body.pools[0].parent',
    ]) {
      expect(paths, p).toContain(p);
    }
    for (const s of serves) {
      const g = await call(s, 'GET', '/v1/policy');
      expect(g.body.version).toBe(1);
      expect(g.body.policy.roles.coder.session_token_limit).toBe(80_000);
    }
  });

  it('stores the change as a policy_changed event', async () => {
    const page = await call(serve(1), 'GET', '/v1/audit?type=policy_changed');
    expect(page.status).toBe(200);
    expect(page.body.events).toHaveLength(1);
    expect(page.body.events[0]).toMatchObject({
      type: 'policy_changed',
      agent_id: '',
      actor: 'admin',
      policy: { version: 1, previous_version: 0, changes_total: 2 },
    });
    expect(page.body.events[0].policy.changes[0]).toEqual({
      path: 'roles.coder.permissions',
      before: ['read_file', 'model_call'],
      after: ['read_file', 'deploy', 'model_call'],
    });
  });

  it('one role through PATCH, on the version it was read at', async () => {
    const r = await call(serve(2), 'PATCH', '/v1/policy/roles/tester?expected_version=1', {
      permissions: ['read_file', 'run_tests', 'analyze_code', 'model_call'],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ version: 2, previous_version: 1, changed: true });
    const stale = await call(serve(0), 'PATCH', '/v1/policy/roles/tester?expected_version=1', {
      permissions: [],
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'CONFLICT', details: { version: 2 } });
  });

  it('a process started again takes the stored version over its file, and says so', {
    timeout: 60_000,
  }, async () => {
    await stopProcess(serve(2).proc);
    const again = await startServe();
    serves[2] = again;
    expect(again.output()).toContain('policy: using the stored version 2 (set by admin');
    expect(again.output()).toContain(`not the policy file ${FILE}`);
    const g = await call(again, 'GET', '/v1/policy');
    expect(g.body).toMatchObject({ version: 2, source: 'runtime', set_by: 'admin' });
    const allowed = await call(again, 'POST', '/v1/authorize', {
      agent_id: agent,
      operation: 'deploy',
    });
    expect(allowed.body).toMatchObject({ allowed: true });
  });
});

describe('the library and a stored policy', () => {
  it('keeps the stored version across a restart (embedded, PostgreSQL)', async () => {
    const store = {
      databaseUrl: inject('databaseUrl'),
      schema: `tg_policy_${uid('s').replace(/-/g, '_').toLowerCase()}`,
    };
    const first = await createTollgate({ store, sweep: false, alerts: false });
    const r = await first.policies.set({ default_estimate: 2500 }, { actor: 'ops' });
    expect(r.version).toBe(1);
    await first.close();

    const warnings: string[] = [];
    const second = await createTollgate({
      store,
      sweep: false,
      alerts: false,
      policy: FILE,
      warn: (m) => warnings.push(m),
    });
    try {
      expect(second.policies.get()).toMatchObject({ version: 1, setBy: 'ops', source: 'runtime' });
      expect(second.policy.estimate('anything')).toBe(2500);
      expect(warnings.join('\n')).toContain('using the stored version 1 (set by ops');
      const page = await second.store?.queryEvents({ type: 'policy_changed' });
      expect(page?.events.map((e) => [e.actor, e.policy?.version])).toEqual([['ops', 1]]);
    } finally {
      await second.close();
    }
  });

  it('a shared engine without a store refuses a change (503), and applies nothing', async () => {
    const api = await startApi();
    try {
      const r = await api.call('PUT', '/v1/policy', { body: { default_estimate: 7 } });
      expect(r.status).toBe(503);
      expect(r.body.error).toMatchObject({
        code: 'STORE_UNAVAILABLE',
        details: { store: 'not configured' },
      });
      expect(api.tg.policy.estimate('x')).toBe(1000);
      expect((await api.call('GET', '/v1/policy')).body).toMatchObject({
        version: 0,
        source: 'defaults',
      });
    } finally {
      await api.close();
    }
  });
});
