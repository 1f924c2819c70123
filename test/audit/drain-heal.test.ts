/**
 * The audit drain after Redis loses its data (issue 16; docs/recovery.md,
 * "The drain after a loss"): the worker re-creates its job schedulers and the
 * outbox groups, so the drain goes on without a restart; a drain that stops
 * advancing shows as degraded in /readyz (still 200), /metrics and the log.
 *
 * On a private redis-server (restarted without persistence by one test), with
 * the worker running and decisions coming in, on PGlite and on PostgreSQL:
 *  - FLUSHALL under HTTP load, the worker wired as `serve --with-worker`
 *    wires it (the API's engine: a restore tells the worker at once);
 *  - Redis stopped for a second and started again empty, under library load,
 *    the worker on its own (as `tollgate worker`: its 2 s check finds it).
 * Each time: the backlog is 0 within 10 s of Redis's return, every decision
 * made after it is in the store exactly once (and none twice), and after a
 * second FLUSHALL the restored session and daily spend equal what Redis held
 * (but for the agents of a batch in flight at the restart's loss, the
 * documented edge case: at least what Redis held; see lateWatch).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type AuditWorker,
  type AuditWorkerOptions,
  outboxLag,
  startAuditWorker,
  type WorkerLog,
  watchDrain,
} from '../../src/audit/drain/index.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';
import { DEFAULT_SHARDS, outboxKey } from '../../src/engine/keys.js';
import { createTollgate } from '../../src/index.js';
import { ADMIN, type Api, startApi } from '../api/harness.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import {
  type Decide,
  decidedAfter,
  drained,
  expectExactlyOnce,
  expectRestoredSpend,
  lateWatch,
  load,
  type Settle,
} from '../support/loss-load.js';

const databaseUrl = inject('databaseUrl');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = () => randomBytes(4).toString('hex');

interface Line {
  at: number;
  level: string;
  msg: string;
  data?: Record<string, unknown>;
}

function logTo(lines: Line[]): WorkerLog {
  return (level, msg, data) => lines.push({ at: Date.now(), level, msg, data });
}

/** The worker as the CLI runs it, a little faster to retry; the 2 s check and the 200 ms tick as shipped. */
const WORKER: Partial<AuditWorkerOptions> = {
  backoffMs: 50,
  maxBackoffMs: 400,
  lockDurationMs: 2_000,
  stalledIntervalMs: 1_000,
  maxDrainMs: 300,
};

describe.each(['pglite', 'postgres'] as const)(
  'the drain after Redis loses its data (%s)',
  (kind) => {
    let server: RedisServer;
    let redis: Redis;
    let store: AuditStore;
    let dataDir: string | undefined;
    let schema: string | undefined;
    const figures: Record<string, unknown> = {};

    beforeAll(async () => {
      server = await startRedis();
      redis = new Redis(server.url);
      redis.on('error', () => undefined);
      if (kind === 'pglite') {
        dataDir = mkdtempSync(join(tmpdir(), 'tollgate-heal-'));
        store = await createStore({ dataDir });
      } else {
        schema = `tg_heal_${hex()}`;
        store = await createStore({ databaseUrl, schema });
      }
    });

    afterAll(async () => {
      if (schema !== undefined) {
        await (store as PostgresStore).pool.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
      }
      await store?.close();
      redis?.disconnect();
      await server?.stop();
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
      console.log(`drain-heal figures (${kind}): ${JSON.stringify(figures)}`);
    });

    it('FLUSHALL under HTTP load, worker in process (serve --with-worker): drains again at once', {
      timeout: 40_000,
    }, async () => {
      const api: Api = await startApi({
        tollgate: { redis: server.url, store, warn: () => undefined },
      });
      const lines: Line[] = [];
      let worker: AuditWorker | undefined;
      try {
        worker = await startAuditWorker({
          ...WORKER,
          redis: server.url,
          store,
          engine: api.tg.engine,
          log: logTo(lines),
        });
        const agents = Array.from({ length: 24 }, (_, i) => `heal-f-${i}`);
        for (const a of agents) await api.agent('coder', a);
        const decide: Decide = async (agent, requestId) => {
          const r = await api.call('POST', '/v1/authorize', {
            body: {
              agent_id: agent,
              operation: 'read_file',
              estimated_tokens: 100,
              request_id: requestId,
            },
          });
          if (r.status !== 200) throw new Error(`authorize ${r.status}`);
          return { allowed: r.body.allowed === true, reservation: r.body.reservation_id };
        };
        const settle: Settle = async (_agent, reservation) => {
          const r = await api.call('POST', '/v1/settle', {
            body: {
              reservation_id: reservation,
              input_tokens: 60,
              output_tokens: 20,
              result: 'success',
            },
          });
          if (r.status !== 200) throw new Error(`settle ${r.status}`);
        };
        const traffic = load(agents, decide, settle);
        await sleep(1_000);
        // No drain batch in flight at the instant of the loss: one read before it and stored after
        // the restore's read of the store would be missing from the restored spend (the documented
        // edge case, docs/recovery.md), which the comparison at the end would then see.
        await worker.worker.pause();
        await redis.flushall();
        const back = Date.now();
        await worker.worker.resume();
        await decidedAfter(traffic.calls, back);
        const calls = await traffic.stop();
        const ms = await drained(redis);
        const sinceBack = Date.now() - back;
        const healedAt = lines.find(
          (l) => l.at >= back && l.msg.startsWith('audit drain repaired'),
        );
        expect(healedAt, JSON.stringify(lines.slice(-10))).toBeDefined();
        expect(healedAt?.data?.schedulers).toEqual(['tick', 'sweep']);
        expect(sinceBack).toBeLessThan(10_000);
        const once = await expectExactlyOnce(store, calls, back);
        figures.flushall = {
          repaired_after_ms: (healedAt?.at ?? 0) - back,
          drained_after_ms: sinceBack,
          drained_after_load_ms: ms,
          ...once,
        };

        const ready = await api.call('GET', '/readyz', { token: null });
        expect(ready.status).toBe(200);
        expect(ready.body.drain).toMatchObject({ status: 'ok', degraded: [] });
        expect(worker.stats().repairs).toBeGreaterThanOrEqual(1);

        await expectRestoredSpend(api.tg, redis, agents);
      } finally {
        await worker?.close();
        await api.close();
      }
    });

    it('Redis restarted without persistence under load, worker on its own: drains again within 10 s', {
      timeout: 40_000,
    }, async () => {
      const tg = await createTollgate({ redis: server.url, store, warn: () => undefined });
      const lines: Line[] = [];
      let worker: AuditWorker | undefined;
      try {
        // As `tollgate worker` runs: no engine of the API's to tell it of a restore. Its drains
        // run through the loss: a batch in flight then may be stored after the restore read the
        // store (the documented edge case), which `watch.late` names.
        const watch = lateWatch(store);
        worker = await startAuditWorker({
          ...WORKER,
          redis: server.url,
          store: watch.store,
          ownsStore: false,
          log: logTo(lines),
        });
        const agents = Array.from({ length: 24 }, (_, i) => `heal-r-${i}`);
        for (const a of agents) await tg.identity.registerAgent(a, 'coder');
        const decide: Decide = async (agent, requestId) => {
          const d = await tg.guard.checkPermission(agent, 'read_file', {
            estimatedTokens: 100,
            requestId,
          });
          return { allowed: d.allowed, reservation: d.allowed ? d.reservation_id : undefined };
        };
        const settle: Settle = async (agent, reservation) => {
          await tg.guard.recordOperation(
            agent,
            'read_file',
            { inputTokens: 60, outputTokens: 20 },
            'success',
            reservation,
          );
        };
        const traffic = load(agents, decide, settle);
        await sleep(1_000);
        await server.stop();
        // The loss is the process's exit, not the signal: redis-server acts on SIGTERM in its next
        // serverCron (up to 100 ms at hz 10) and goes on deciding until then, so events of the lost
        // Redis are decided after stop() is called (seen up to 37 ms after). All are before this.
        watch.times.lossAt = Date.now();
        await sleep(1_000);
        watch.times.upAt = Date.now();
        await server.restart();
        const back = Date.now();
        await decidedAfter(traffic.calls, back);
        const calls = await traffic.stop();
        const ms = await drained(redis);
        const sinceBack = Date.now() - back;
        const healedAt = lines.find(
          (l) => l.at >= back && l.msg.startsWith('audit drain repaired'),
        );
        expect(healedAt, JSON.stringify(lines.slice(-10))).toBeDefined();
        expect(healedAt?.data?.schedulers).toEqual(['tick', 'sweep']);
        expect(sinceBack).toBeLessThan(10_000);
        const once = await expectExactlyOnce(store, calls, back);
        figures.restart = {
          repaired_after_ms: (healedAt?.at ?? 0) - back,
          drained_after_ms: sinceBack,
          drained_after_load_ms: ms,
          ...once,
          late_agents: watch.late.size,
        };
        await expectRestoredSpend(tg, redis, agents, watch.late);
        // And the drain goes on after that second loss too (no engine to tell it: its check finds it).
        await tg.guard.checkPermission(agents[0] as string, 'read_file');
        await drained(redis);
      } finally {
        await worker?.close();
        await tg.close();
      }
    });
  },
);

describe('a drain that does not advance', () => {
  let server: RedisServer;
  let redis: Redis;
  let api: Api;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    api = await startApi({ tollgate: { redis: server.url } });
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
    await server?.stop();
  });

  it('is degraded in /readyz (still 200), /metrics and the log, one line each way', async () => {
    const [sec] = await redis.time();
    // An entry 15 s old in shard 5's outbox, and nothing draining it.
    const id = await redis.xadd(outboxKey(5), `${Number(sec) * 1000 - 15_000}-0`, 'e', 'x');
    await redis.xadd(outboxKey(9), '*', 'e', 'y'); // new: a backlog, not degraded

    const ready = await api.call('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.drain.status).toBe('degraded');
    expect(ready.body.drain.stalled_after_ms).toBe(10_000);
    expect(ready.body.drain.degraded).toHaveLength(1);
    expect(ready.body.drain.degraded[0]).toMatchObject({ shard: 5, backlog: 1 });
    expect(ready.body.drain.degraded[0].oldest_age_ms).toBeGreaterThanOrEqual(15_000);

    const metrics = await api.call('GET', '/metrics', { token: ADMIN });
    expect(metrics.text).toMatch(/^tollgate_outbox_degraded\{shard="5"\} 1$/m);
    expect(metrics.text).toMatch(/^tollgate_outbox_degraded\{shard="9"\} 0$/m);

    const lines: Line[] = [];
    const watch = watchDrain({
      lag: () => outboxLag({ redis, shards: DEFAULT_SHARDS }),
      log: logTo(lines),
      everyMs: 0,
    });
    await watch.check();
    await watch.check();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', data: { shard: 5, backlog: 1 } });
    expect(lines[0]?.msg).toMatch(/^audit drain degraded/);
    expect(watch.degraded()).toEqual([5]);

    // Drained (as a drain deletes what it stored): recovered, once.
    await redis.xdel(outboxKey(5), id as string);
    await watch.check();
    await watch.check();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 'info', data: { shard: 5, backlog: 0 } });
    expect(lines[1]?.msg).toMatch(/^audit drain recovered/);
    expect(watch.degraded()).toEqual([]);
    watch.stop();

    const after = await api.call('GET', '/readyz', { token: null });
    expect(after.body.drain).toEqual({ status: 'ok', stalled_after_ms: 10_000, degraded: [] });
    const m2 = await api.call('GET', '/metrics', { token: ADMIN });
    expect(m2.text).toMatch(/^tollgate_outbox_degraded\{shard="5"\} 0$/m);
  });
});
