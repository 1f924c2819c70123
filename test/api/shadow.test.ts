/**
 * Shadow mode over HTTP (docs/operations.md, "Shadow mode"): a role put in
 * shadow at runtime (PATCH /v1/policy/roles/:role) and agents by id (PUT
 * /v1/policy/shadow-agents, through the SDK and the CLI) get 200 allowed with
 * `would_deny` where the rules deny; GET /metrics counts them as
 * outcome="would_deny"; the audit store keeps `would_deny` on their decision
 * rows (GET /v1/audit). A suspended agent is still denied. A private
 * redis-server, drained with drainShard into the run's PostgreSQL (draining
 * deletes outbox entries other test files on the shared Redis read).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drainShard } from '../../src/audit/drain/index.js';
import { runCli } from '../../src/cli/index.js';
import { TollgateClient } from '../../src/client/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { capture } from '../support/capture.js';
import { parse, value } from '../support/prom-text.js';
import { ADMIN, type Api, startApi } from './harness.js';

/** Above every role's session budget of the defaults: BUDGET_EXCEEDED, `session`. */
const OVER = 1_000_000;

let server: RedisServer;
let redis: Redis;
let api: Api;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
  api = await startApi({
    tollgate: {
      redis: server.url,
      store: {
        databaseUrl: inject('databaseUrl'),
        schema: `tg_shadow_${randomBytes(4).toString('hex')}`,
      },
    },
  });
});

afterAll(async () => {
  redis.disconnect();
  await api.close();
  await server.stop();
});

async function authorize(agentId: string, tokens = OVER) {
  const r = await api.call('POST', '/v1/authorize', {
    body: { agent_id: agentId, operation: 'read_file', estimated_tokens: tokens },
  });
  expect(r.status, r.text).toBe(200);
  return r.body;
}

async function wouldDenyCount(role: string): Promise<number> {
  const r = await api.call('GET', '/metrics');
  expect(r.status).toBe(200);
  return (
    value(parse(r.text), 'tollgate_decisions_total', {
      outcome: 'would_deny',
      code: 'BUDGET_EXCEEDED',
      role,
    }) ?? 0
  );
}

async function drain(): Promise<void> {
  const store = api.tg.store;
  if (!store) throw new Error('no store');
  for (let shard = 0; shard < api.tg.engine.shards; shard++) {
    await drainShard({ redis, store, shard, consumer: 'shadow-api-test' });
  }
}

describe('shadow mode over HTTP', () => {
  it('a role put in shadow at runtime: allowed with would_deny, counted, stored; then enforced again', async () => {
    const { id } = await api.agent('coder');
    const before = await authorize(id);
    expect(before).toMatchObject({ allowed: false, error_code: 'BUDGET_EXCEEDED' });

    const patch = await api.call('PATCH', '/v1/policy/roles/coder', { body: { shadow: true } });
    expect(patch.status, patch.text).toBe(200);
    expect(patch.body.changes).toEqual([{ path: 'roles.coder.shadow', after: true }]);
    expect(api.tg.policy.shadow.roles).toEqual(['coder']);

    const counted = await wouldDenyCount('coder');
    const d = await authorize(id);
    expect(d).toMatchObject({
      allowed: true,
      would_deny: { error_code: 'BUDGET_EXCEEDED', exceeded: 'session' },
      reservation_state: 'open',
    });
    expect(d.budget_status.session.tokens_reserved).toBe(OVER);
    expect(d.budget_status.operations_blocked).toBe(1);
    expect(await wouldDenyCount('coder')).toBe(counted + 1);

    await drain();
    const page = await api.call('GET', `/v1/audit?agent_id=${id}&type=decision`);
    expect(page.status, page.text).toBe(200);
    const [shadowed, denied] = page.body.events; // newest first
    expect(shadowed).toMatchObject({
      allowed: true,
      error_code: null,
      exceeded: 'session',
      would_deny: 'BUDGET_EXCEEDED',
      reservation_id: d.reservation_id,
    });
    expect(denied).toMatchObject({ allowed: false, would_deny: null });
    const stored = await api.tg.store?.queryEvents({ agentId: id, type: 'decision' });
    expect(stored?.events.map((e) => e.would_deny ?? null)).toEqual(['BUDGET_EXCEEDED', null]);

    // A suspended agent of the role is denied, shadow or not.
    const { id: other } = await api.agent('coder');
    expect((await api.call('POST', `/v1/agents/${other}/suspend`)).status).toBe(200);
    expect(await authorize(other, 10)).toMatchObject({
      allowed: false,
      error_code: 'AGENT_SUSPENDED',
    });

    const off = await api.call('PATCH', '/v1/policy/roles/coder', { body: { shadow: false } });
    expect(off.status, off.text).toBe(200);
    expect(await authorize(id)).toMatchObject({ allowed: false, error_code: 'BUDGET_EXCEEDED' });
  });

  it('agents by id: PUT /v1/policy/shadow-agents through the SDK and the CLI', async () => {
    const { id } = await api.agent('tester');
    const { id: other } = await api.agent('tester');
    const client = new TollgateClient({ baseUrl: api.base, token: ADMIN });
    const r = await client.setShadowAgents([id]);
    expect(r).toMatchObject({ changed: true, changes: [{ path: 'shadow_agents', after: [id] }] });
    expect((await client.getPolicy()).policy.shadow_agents).toEqual([id]);
    expect(await authorize(id)).toMatchObject({
      allowed: true,
      would_deny: { error_code: 'BUDGET_EXCEEDED', exceeded: 'session' },
    });
    expect(await authorize(other)).toMatchObject({ allowed: false });

    // A bad id: every problem named in the body, nothing changed.
    const bad = await api.call('PUT', '/v1/policy/shadow-agents', { body: { agents: ['a:b'] } });
    expect(bad.status).toBe(400);
    expect(api.tg.policy.shadow.agents).toEqual([id]);

    const out = capture();
    const env = { TOLLGATE_URL: api.base, TOLLGATE_ADMIN_TOKEN: ADMIN };
    expect(await runCli(['policy', 'shadow-agents', `${id},${other}`], env, out)).toBe(0);
    expect(out.stdout).toContain('shadow_agents');
    expect(api.tg.policy.shadow.agents).toEqual([id, other].sort());
    expect(await authorize(other)).toMatchObject({ allowed: true });
    const get = capture();
    expect(await runCli(['policy', 'get'], env, get)).toBe(0);
    expect(get.stdout).toMatch(/shadow: +roles \(none\); agents /);
    expect(await runCli(['policy', 'shadow-agents', ''], env, capture())).toBe(0);
    expect(await authorize(id)).toMatchObject({ allowed: false });
  });
});
