/**
 * GET /v1/audit, GET /v1/audit/lag and the audit detail of /readyz, end to
 * end: decisions made through the API reach the store (embedded: the
 * in-process drain into PGlite in a temp dir; Redis: a private redis-server,
 * drained with drainShard into the run's PostgreSQL, because draining deletes
 * outbox entries that other test files on the shared Redis read), are listed
 * with filters and cursor pages, an agent key sees only its own, and no key
 * digest ever appears in an answer.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lazyStore } from '../../src/api/index.js';
import { AuditLagSchema, AuditPageSchema, ReadySchema } from '../../src/api/schemas.js';
import { drainShard } from '../../src/audit/drain/index.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import { digestKey } from '../../src/identity/api-key.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { type Api, isError, type Reply, startApi } from './harness.js';

// biome-ignore lint/suspicious/noExplicitAny: response JSON, checked by the schemas
type Json = any;

const tmpDirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tollgate-audit-api-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

const hex = () => randomBytes(4).toString('hex');

interface Mode {
  name: string;
  engine: 'memory' | 'redis';
  start(): Promise<{ api: Api; drain: () => Promise<void>; stop: () => Promise<void> }>;
  /** Redis mode: the private server (to take it away). */
  server?: () => RedisServer;
}

let redisServer: RedisServer | undefined;

const MODES: Mode[] = [
  {
    name: 'embedded (MemoryEngine, PGlite, in-process drain)',
    engine: 'memory',
    async start() {
      const api = await startApi({
        // No Redis; the drain's loop is slowed down so that the test drains (flush) when it wants.
        tollgate: {
          redis: undefined,
          store: { dataDir: tempDir() },
          drain: { intervalMs: 60_000 },
        },
      });
      return {
        api,
        drain: async () => {
          await api.tg.drain?.flush();
        },
        stop: () => api.close(),
      };
    },
  },
  {
    name: 'Redis (private redis-server, PostgreSQL, drainShard)',
    engine: 'redis',
    server: () => redisServer as RedisServer,
    async start() {
      redisServer = await startRedis();
      const url = redisServer.url;
      const api = await startApi({
        tollgate: {
          redis: url,
          store: { databaseUrl: inject('databaseUrl'), schema: `tg_audit_api_${hex()}` },
        },
      });
      const redis = new Redis(url);
      return {
        api,
        drain: async () => {
          const store = api.tg.store;
          if (!store) throw new Error('no store');
          for (let shard = 0; shard < api.tg.engine.shards; shard++) {
            await drainShard({ redis, store, shard, consumer: 'audit-api-test' });
          }
        },
        stop: async () => {
          redis.disconnect();
          await api.close();
          await redisServer?.stop();
        },
      };
    },
  },
];

/** Every page of a query, following next_cursor (limit per page). */
async function allPages(
  api: Api,
  query: string,
  opts: { token?: string; limit: number },
): Promise<{ events: Json[]; pages: Reply[] }> {
  const events: Json[] = [];
  const pages: Reply[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const sep = query === '' ? '' : '&';
    const q = `${query}${sep}limit=${opts.limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const r = await api.call('GET', `/v1/audit?${q}`, { token: opts.token });
    expect(r.status, r.text).toBe(200);
    AuditPageSchema.parse(r.body);
    pages.push(r);
    events.push(...r.body.events);
    cursor = r.body.next_cursor;
    if (cursor === undefined) break;
    expect(r.body.events).toHaveLength(opts.limit);
  }
  return { events, pages };
}

describe.each(MODES)('GET /v1/audit, $name', (mode) => {
  let api: Api;
  let drain: () => Promise<void>;
  let stop: () => Promise<void>;
  /** Every answer's text, searched for key digests at the end. */
  const seen: string[] = [];
  let a: { id: string; key: string };
  let b: { id: string; key: string };
  let oldKeyA: string;
  let digests: string[];
  const decisions = { a: { allowed: 0, denied: 0 }, b: { allowed: 0, denied: 0 } };

  const call = async (method: string, path: string, o: Parameters<Api['call']>[2] = {}) => {
    const r = await api.call(method, path, o);
    seen.push(r.text);
    return r;
  };

  async function authorize(who: { id: string; key: string }, operation: string, tokens = 500) {
    const r = await call('POST', '/v1/authorize', {
      token: who.key,
      body: { agent_id: who.id, operation, estimated_tokens: tokens },
    });
    expect(r.status).toBe(200);
    const tally = who === a ? decisions.a : decisions.b;
    if (r.body.allowed) tally.allowed++;
    else tally.denied++;
    return r.body;
  }

  beforeAll(async () => {
    ({ api, drain, stop } = await mode.start());
    a = await api.agent('coder', `aud-a-${hex()}`);
    b = await api.agent('coder', `aud-b-${hex()}`);
    oldKeyA = a.key;
    // A: allowed and settled, allowed and released, denied by RBAC (coder may not deploy).
    for (let i = 0; i < 4; i++) {
      const d = await authorize(a, 'write_file');
      await call('POST', '/v1/settle', {
        token: a.key,
        body: {
          reservation_id: d.reservation_id,
          input_tokens: 1000 + i,
          output_tokens: 200,
          result: 'success',
        },
      });
    }
    const held = await authorize(a, 'read_file');
    await call('POST', '/v1/release', {
      token: a.key,
      body: { reservation_id: held.reservation_id },
    });
    for (let i = 0; i < 3; i++) await authorize(a, 'deploy');
    // The admin decides for A too (actor admin).
    const byAdmin = await call('POST', '/v1/authorize', {
      body: { agent_id: a.id, operation: 'read_file', estimated_tokens: 10 },
    });
    expect(byAdmin.body.allowed).toBe(true);
    decisions.a.allowed++;
    // A's key is rotated: a key_rotated event whose state carries the new digest.
    const rotated = await call('POST', `/v1/agents/${a.id}/keys`);
    a = { id: a.id, key: rotated.body.api_key };
    for (let i = 0; i < 2; i++) await authorize(a, 'run_tests', 100);
    // B: a few of its own.
    for (let i = 0; i < 3; i++) await authorize(b, 'read_file');
    await authorize(b, 'deploy');
    digests = [oldKeyA, a.key, b.key].map(digestKey);
  }, 60_000);

  afterAll(async () => {
    await stop?.();
  });

  it('/readyz and /v1/audit/lag report the backlog before the drain (200 all the same)', async () => {
    await new Promise((r) => setTimeout(r, 20));
    const ready = await call('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    const body = ReadySchema.parse(ready.body);
    expect(body.engine).toBe(mode.engine);
    const audit = AuditLagSchema.parse(body.audit);
    expect(audit.engine).toBe(mode.engine);
    expect(audit.backlog).toBeGreaterThan(20);
    expect(audit.oldest_age_ms).toBeGreaterThan(0);
    expect(audit.shards).toHaveLength(api.tg.engine.shards);
    expect(audit.shards.reduce((n, s) => n + s.backlog, 0)).toBe(audit.backlog);
    if (mode.engine === 'memory') expect(audit.drain).not.toBeNull();
    else expect(audit.drain).toBeNull();

    const lag = await call('GET', '/v1/audit/lag');
    expect(lag.status).toBe(200);
    const l = AuditLagSchema.parse(lag.body);
    expect(l.backlog).toBe(audit.backlog);
    // Admin only.
    const forbidden = await call('GET', '/v1/audit/lag', { token: a.key });
    expect(forbidden.status).toBe(403);
    expect(isError(forbidden, 'FORBIDDEN')).toBe(true);
  });

  it('after the drain the backlog is 0, and every decision is in the store', async () => {
    await drain();
    const ready = await call('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body.audit).toMatchObject({ backlog: 0, oldest_age_ms: 0, pending: 0 });
    const lag = await call('GET', '/v1/audit/lag');
    expect(lag.body).toMatchObject({ backlog: 0, oldest_age_ms: 0, dead_letters: 0 });
    if (mode.engine === 'memory') {
      expect(lag.body.drain.drained).toBeGreaterThan(20);
      expect(lag.body.drain.failures).toBe(0);
    }

    const all = await call('GET', `/v1/audit?agent_id=${a.id}&type=decision&limit=1000`);
    expect(all.status).toBe(200);
    expect(all.body.next_cursor).toBeUndefined();
    expect(all.body.events).toHaveLength(decisions.a.allowed + decisions.a.denied);
  });

  it('answers in the wire shape: ISO times, USD and micro-dollars, no key digest', async () => {
    const r = await call('GET', `/v1/audit?agent_id=${a.id}&limit=1000`);
    const page = AuditPageSchema.parse(r.body); // strict: no field beyond the documented ones
    const types = new Set(page.events.map((e) => e.type));
    for (const t of ['agent_registered', 'decision', 'settle', 'release', 'key_rotated']) {
      expect(types, t).toContain(t);
    }
    for (const e of page.events) {
      expect(e.agent_id).toBe(a.id);
      expect(new Date(e.at).toISOString()).toBe(e.at);
      if (e.cost_micros !== null) expect(e.cost).toBeCloseTo(e.cost_micros / 1_000_000, 9);
      if (e.state !== null) {
        expect(e.state).not.toHaveProperty('key_digest');
        expect(new Date(e.state.created_at).toISOString()).toBe(e.state.created_at);
      }
    }
    const settles = page.events.filter((e) => e.type === 'settle');
    expect(settles).toHaveLength(4);
    for (const s of settles as Json[]) {
      expect(s.cost_micros).toBeGreaterThan(0);
      expect(s.input_tokens).toBeGreaterThanOrEqual(1000);
      expect(s.output_tokens).toBe(200);
      // Held 500 tokens, used 1,200 and more: the overrun is recorded on the settle. The hold's
      // cost is 500 tokens at the model's higher rate ($15/M: 7,500 µ$), more than this usage's.
      expect(s.overrun_tokens).toBe(s.input_tokens + s.output_tokens - 500);
      expect(s.overrun_cost_micros).toBe(Math.max(0, s.cost_micros - 7_500));
      expect(s.overrun_cost).toBeCloseTo(s.overrun_cost_micros / 1_000_000, 9);
    }
    for (const e of page.events.filter((x) => x.type !== 'settle') as Json[]) {
      expect(e).toMatchObject({
        overrun_tokens: null,
        overrun_cost: null,
        overrun_cost_micros: null,
      });
    }
    // Newest first, by (at, event_id).
    const keys = page.events.map((e) => `${Date.parse(e.at)}`.padStart(16, '0') + e.event_id);
    expect(keys).toEqual([...keys].sort().reverse());
    // The actor is recorded: the admin's decision and the agent's.
    const actors = new Set(page.events.filter((e) => e.type === 'decision').map((e) => e.actor));
    expect(actors).toEqual(new Set(['admin', 'agent']));
    const registered = page.events.find((e) => e.type === 'agent_registered');
    expect(registered?.state).toMatchObject({ role: 'coder', status: 'active', metadata: {} });
  });

  it('filters: agent, type, allowed, from and to (ISO and ms)', async () => {
    const denied = await call('GET', `/v1/audit?agent_id=${a.id}&allowed=false`);
    expect(denied.status).toBe(200);
    expect(denied.body.events).toHaveLength(decisions.a.denied);
    for (const e of denied.body.events) {
      expect(e).toMatchObject({ type: 'decision', allowed: false, error_code: 'RBAC_DENIED' });
    }
    const allowed = await call('GET', `/v1/audit?agent_id=${a.id}&type=decision&allowed=true`);
    expect(allowed.body.events).toHaveLength(decisions.a.allowed);

    const bDecisions = await call('GET', `/v1/audit?agent_id=${b.id}&type=decision`);
    expect(bDecisions.body.events).toHaveLength(decisions.b.allowed + decisions.b.denied);
    expect(new Set(bDecisions.body.events.map((e: Json) => e.agent_id))).toEqual(new Set([b.id]));

    // Without an agent (admin): both agents' events, and only the given type.
    const settles = await call('GET', '/v1/audit?type=settle&limit=1000');
    const ids = new Set(settles.body.events.map((e: Json) => e.agent_id));
    expect(ids).toContain(a.id);
    for (const e of settles.body.events) expect(e.type).toBe('settle');

    // Time window: [from, to) over A's own timeline.
    const timeline = (await call('GET', `/v1/audit?agent_id=${a.id}&limit=1000`)).body.events
      .map((e: Json) => Date.parse(e.at))
      .sort((x: number, y: number) => x - y);
    const mid = timeline[Math.floor(timeline.length / 2)] as number;
    const fromMs = await call('GET', `/v1/audit?agent_id=${a.id}&from=${mid}&limit=1000`);
    expect(fromMs.body.events.length).toBe(timeline.filter((t: number) => t >= mid).length);
    const iso = new Date(mid).toISOString();
    const fromIso = await call('GET', `/v1/audit?agent_id=${a.id}&from=${iso}&limit=1000`);
    expect(fromIso.body.events).toEqual(fromMs.body.events);
    const before = await call('GET', `/v1/audit?agent_id=${a.id}&to=${iso}&limit=1000`);
    expect(before.body.events.length).toBe(timeline.filter((t: number) => t < mid).length);
    expect(before.body.events.length + fromMs.body.events.length).toBe(timeline.length);
    const empty = await call('GET', `/v1/audit?agent_id=${a.id}&from=${mid}&to=${mid}`);
    expect(empty.body.events).toEqual([]);
  });

  it('cursor pages: no gaps, no repeats, the same events as one big page', async () => {
    const whole = await call('GET', `/v1/audit?agent_id=${a.id}&limit=1000`);
    const expected = whole.body.events.map((e: Json) => e.event_id);
    expect(expected.length).toBeGreaterThan(15);
    for (const limit of [1, 3, 7]) {
      const { events, pages } = await allPages(api, `agent_id=${a.id}`, { limit });
      seen.push(...pages.map((p) => p.text));
      const ids = events.map((e) => e.event_id);
      expect(ids, `limit ${limit}`).toEqual(expected);
      expect(new Set(ids).size).toBe(ids.length);
      expect(pages.length).toBe(Math.ceil(expected.length / limit));
      // The last page has no cursor; every other one has.
      expect(pages.at(-1)?.body.next_cursor).toBeUndefined();
    }
    // Default page: 100 events at most.
    const d = await call('GET', '/v1/audit');
    expect(d.body.events.length).toBeLessThanOrEqual(100);
  });

  it("an agent key reads only its own agent's events; another agent's are 403", async () => {
    const own = await allPages(api, '', { token: a.key, limit: 5 });
    seen.push(...own.pages.map((p) => p.text));
    expect(own.events.length).toBeGreaterThan(15);
    expect(new Set(own.events.map((e) => e.agent_id))).toEqual(new Set([a.id]));
    const named = await call('GET', `/v1/audit?agent_id=${a.id}&limit=1000`, { token: a.key });
    expect(named.status).toBe(200);
    expect(named.body.events.map((e: Json) => e.event_id)).toEqual(
      own.events.map((e) => e.event_id),
    );

    for (const q of [`agent_id=${b.id}`, `agent_id=${b.id}&type=decision`, 'agent_id=nobody-x']) {
      const r = await call('GET', `/v1/audit?${q}`, { token: a.key });
      expect(r.status, q).toBe(403);
      expect(isError(r, 'FORBIDDEN')).toBe(true);
    }
    const bOwn = await call('GET', '/v1/audit?limit=1000', { token: b.key });
    expect(new Set(bOwn.body.events.map((e: Json) => e.agent_id))).toEqual(new Set([b.id]));

    // A's rotated-away key: 401, with or without an agent named.
    for (const q of ['', `?agent_id=${a.id}`]) {
      const r = await call('GET', `/v1/audit${q}`, { token: oldKeyA });
      expect(r.status).toBe(401);
      expect(isError(r, 'UNAUTHENTICATED')).toBe(true);
    }
    expect((await call('GET', '/v1/audit', { token: null })).status).toBe(401);
  });

  it('an agent deleted and registered again: its current incarnation, unless incarnations=all', async () => {
    const id = `aud-re-${hex()}`;
    const first = await api.agent('coder', id);
    const before = await call('POST', '/v1/authorize', {
      token: first.key,
      body: { agent_id: id, operation: 'read_file', estimated_tokens: 10 },
    });
    expect(before.body.allowed).toBe(true);
    expect((await call('DELETE', `/v1/agents/${id}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 5)); // the new incarnation begins at a later ms
    const second = await api.agent('coder', id);
    const after = await call('POST', '/v1/authorize', {
      token: second.key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 10 },
    });
    expect(after.body.allowed).toBe(true);
    await drain();
    const types = (r: Reply) => r.body.events.map((e: Json) => e.type).reverse();

    const current = await call('GET', `/v1/audit?agent_id=${id}&limit=1000`);
    expect(current.status).toBe(200);
    expect(types(current)).toEqual(['agent_registered', 'decision']);
    expect(current.body.events[0]).toMatchObject({ operation: 'write_file' });
    // The same, asked for by name, and by the new key (its own agent by default).
    const named = await call('GET', `/v1/audit?agent_id=${id}&incarnations=current`);
    expect(named.body.events).toEqual(current.body.events);
    const own = await call('GET', '/v1/audit', { token: second.key });
    expect(own.body.events).toEqual(current.body.events);

    const all = await call('GET', `/v1/audit?agent_id=${id}&incarnations=all&limit=1000`);
    expect(all.status).toBe(200);
    expect(types(all)).toEqual([
      'agent_registered',
      'decision',
      'agent_deleted',
      'agent_registered',
      'decision',
    ]);
    const ownAll = await call('GET', '/v1/audit?incarnations=all', { token: second.key });
    expect(ownAll.body.events).toEqual(all.body.events);
    // The first key was deleted with its agent.
    expect((await call('GET', '/v1/audit', { token: first.key })).status).toBe(401);
    const bad = await call('GET', `/v1/audit?agent_id=${id}&incarnations=some`);
    expect(bad.status).toBe(400);
    expect(isError(bad, 'VALIDATION_FAILED')).toBe(true);
  });

  it('refuses bad queries with 400 VALIDATION_FAILED naming the field', async () => {
    for (const [q, field] of [
      ['limit=0', 'query.limit'],
      ['limit=1001', 'query.limit'],
      ['limit=ten', 'query.limit'],
      ['allowed=yes', 'query.allowed'],
      ['type=bogus', 'query.type'],
      ['from=yesterday', 'query.from'],
      ['to=2025-13-01T00:00:00Z', 'query.to'],
      ['from=2000&to=1000', 'query.to'],
      ['cursor=not-a-cursor', 'query.cursor'],
      ['agent_id=bad%20id', 'query.agent_id'],
      ['agent=x', 'query.agent'],
      ['limit=1&limit=2', 'query.limit'],
    ] as const) {
      const r = await call('GET', `/v1/audit?${q}`);
      expect(r.status, q).toBe(400);
      expect(isError(r, 'VALIDATION_FAILED'), q).toBe(true);
      expect(
        r.body.error.details.issues.map((i: { path: string }) => i.path),
        q,
      ).toContain(field);
    }
  });

  it('never shows a key digest, in any answer of this suite', async () => {
    expect(seen.length).toBeGreaterThan(30);
    const text = seen.join('\n');
    for (const d of digests) {
      expect(d).toMatch(/^[0-9a-f]{64}$/);
      expect(text.includes(d)).toBe(false);
    }
    expect(text).not.toContain('key_digest');
    // The digests are in the store, so the test is not vacuous.
    const store = api.tg.store;
    const stored = await store?.queryEvents({ agentId: a.id, type: 'key_rotated' });
    expect(stored?.events[0]?.state?.key_digest).toBe(digestKey(a.key));
  });

  if (mode.engine === 'redis') {
    it('/readyz: 503 while Redis is down, 200 again when it is back', async () => {
      const server = mode.server?.() as RedisServer;
      await server.stop();
      const down = await call('GET', '/readyz', { token: null });
      expect(down.status).toBe(503);
      expect(isError(down, 'STORE_UNAVAILABLE')).toBe(true);
      const lag = await call('GET', '/v1/audit/lag');
      expect(lag.status).toBe(503);
      await server.restart();
      let ready: Reply | undefined;
      for (let i = 0; i < 50; i++) {
        ready = await call('GET', '/readyz', { token: null });
        if (ready.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready?.status).toBe(200);
      expect(ready?.body.audit).toMatchObject({ backlog: 0 });
    });
  }
});

describe('GET /v1/audit without a store', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi({ tollgate: { redis: undefined } });
  });
  afterAll(() => api.close());

  it('answers 503 STORE_UNAVAILABLE with details {store: "not configured"}', async () => {
    const { id, key } = await api.agent('coder');
    for (const token of [undefined, key]) {
      const r = await api.call('GET', `/v1/audit?agent_id=${id}`, { token });
      expect(r.status).toBe(503);
      expect(isError(r, 'STORE_UNAVAILABLE')).toBe(true);
      expect(r.body.error.details).toEqual({ store: 'not configured' });
      expect(r.body.error.message).toMatch(/No audit store/);
    }
    // Authorization still comes first.
    const other = await api.call('GET', '/v1/audit?agent_id=someone-else', { token: key });
    expect(other.status).toBe(403);
  });

  it('/readyz still reports the (undrained) outbox, with no drain', async () => {
    await api.call('POST', '/v1/usage', {
      body: { agent_id: (await api.agent('coder')).id, input_tokens: 1, output_tokens: 1 },
    });
    const r = await api.call('GET', '/readyz', { token: null });
    expect(r.status).toBe(200);
    const lag = AuditLagSchema.parse(r.body.audit);
    expect(lag.backlog).toBeGreaterThan(0);
    expect(lag.drain).toBeNull();
  });
});

describe('a lazily opened store (serve in Redis mode)', () => {
  it('opens on first use, not at startup; while it cannot be opened GET /v1/audit is 503, then it is read', async () => {
    let down = true;
    let opens = 0;
    const dataDir = tempDir();
    const store = lazyStore({
      kind: 'pglite',
      retryAfterMs: 0,
      open: async () => {
        opens++;
        if (down) {
          // A PostgreSQL that refuses connections.
          return createStore({ databaseUrl: 'postgres://tollgate:x@127.0.0.1:1/none' });
        }
        return createStore({ dataDir });
      },
    });
    // Redis mode (the run's Redis; nothing here touches it: a shard's recovery would read the store too).
    // No stored policy read (it opens the store at startup and polls it: test/api/policy-runtime.test.ts).
    const api = await startApi({ tollgate: { store, storedPolicy: false } });
    try {
      expect(opens).toBe(0);
      const r = await api.call('GET', '/v1/audit');
      expect(r.status).toBe(503);
      expect(isError(r, 'STORE_UNAVAILABLE')).toBe(true);
      expect(r.body.error.details).toEqual({}); // a driver's message is never sent
      expect(opens).toBe(1);

      down = false;
      const [x, y] = await Promise.all([
        api.call('GET', '/v1/audit'),
        api.call('GET', '/v1/audit'),
      ]);
      expect([x.status, y.status]).toEqual([200, 200]);
      expect(opens).toBe(2); // one open for both
      expect(x.body).toEqual({ events: [] }); // nothing drains into this one
    } finally {
      await api.close();
      await store.close();
    }
    await expect(store.queryEvents({})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('after a failed open, fails at once for retryAfterMs, then tries again', async () => {
    let opens = 0;
    const store = lazyStore({
      kind: 'postgres',
      retryAfterMs: 200,
      open: async () => {
        opens++;
        throw new Error('refused');
      },
    });
    await expect(store.agents()).rejects.toThrow('refused');
    await expect(store.agents()).rejects.toThrow('refused');
    expect(opens).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    await expect(store.agents()).rejects.toThrow('refused');
    expect(opens).toBe(2);
    await store.close();
  });

  it('close() during an open closes what was being opened', async () => {
    let release: (s: AuditStore) => void = () => undefined;
    let closed = false;
    const fake = {
      close: async () => {
        closed = true;
      },
    } as unknown as AuditStore;
    const store = lazyStore({
      kind: 'pglite',
      open: () =>
        new Promise<AuditStore>((resolve) => {
          release = resolve;
        }),
    });
    const read = store.queryEvents({});
    const closing = store.close();
    release(fake);
    await closing;
    await expect(read).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(closed).toBe(true);
  });
});
