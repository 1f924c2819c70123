/**
 * The BullMQ audit worker (src/audit/drain/worker.ts, `tollgate worker`,
 * `tollgate serve --with-worker`), on private Redis servers (a drain deletes
 * what it stores, so it never runs on the run's shared Redis): traffic drained
 * as it comes, one drain per shard at a time, the store away for a while, a
 * worker process SIGKILLed mid-drain, a Redis Cluster. PostgreSQL refusing
 * connections for 30 s is in worker-outage.test.ts; the helpers are in
 * test/support/audit-worker.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deadLetterKey } from '../../src/audit/drain/index.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import { runCli } from '../../src/cli/index.js';
import { DEFAULT_SHARDS, outboxKey, shardOf } from '../../src/engine/keys.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startCluster, startRedis } from '../setup/redis-servers.js';
import {
  atTestEnd,
  backlog,
  countRows,
  decide,
  hex,
  lockedDrainJobs,
  pgliteStore,
  pgStore,
  register,
  sleep,
  spawnCli,
  startWorker,
  steady,
  until,
  waitOutput,
  watched,
} from '../support/audit-worker.js';
import { capture } from '../support/capture.js';
import { outboxEventCount } from '../support/outbox.js';

/** The run's fresh PostgreSQL database (test/setup/postgres.ts); each test keeps to a schema of its own. */
const databaseUrl = inject('databaseUrl');

let server: RedisServer;
let redis: Redis;
let tg: Tollgate;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
  tg = await createTollgate({ redis: server.url });
});

afterAll(async () => {
  await tg?.close();
  redis?.disconnect();
  await server?.stop();
});

describe('the audit worker (in process)', () => {
  it('drains traffic as it comes, one drain per shard at a time across two workers', async () => {
    await redis.flushall();
    const { store } = await pgliteStore();
    const w = watched(store, () => false);
    const [a, b] = [
      await startWorker({ redis: server.url, store: w.store, concurrency: 4 }),
      await startWorker({ redis: server.url, store: w.store, concurrency: 4 }),
    ];
    const agents = await register(tg, `steady-${hex()}`, 60);
    await steady(tg, agents, 10, 300);
    const produced = 60 + 3_000;
    await until('the backlog to drain', async () => (await backlog(redis)).backlog === 0);
    await until(
      'the workers to count them',
      async () => a.stats().stored + b.stats().stored >= produced,
    );
    expect(await countRows(store, agents)).toEqual({ rows: produced, distinct: produced });
    expect(w.maxPerShard()).toBe(1);
    const stats = [a.stats(), b.stats()];
    expect(a.stats().stored + b.stats().stored).toBe(produced);
    expect(stats.every((s) => s.failures === 0 && s.duplicates === 0)).toBe(true);
    expect(await a.lag()).toHaveLength(DEFAULT_SHARDS);
  });

  it('keeps retrying while the store is down (PGlite stand-in), then drains: 0 events lost', async () => {
    await redis.flushall();
    const { store } = await pgliteStore();
    let down = true;
    const w = watched(store, () => down);
    const worker = await startWorker({ redis: server.url, store: w.store });
    const agents = await register(tg, `outage-${hex()}`, 30);
    await steady(tg, agents, 4, 250);
    await until('failures to show', async () => worker.stats().failures >= 3);
    expect(await outboxEventCount(redis)).toBe(30 + 1_000);
    down = false;
    await steady(tg, agents, 4, 250);
    down = true; // and away again, mid-run
    await steady(tg, agents, 4, 250);
    await sleep(300);
    down = false;
    const produced = 30 + 3_000;
    await until('the backlog to drain', async () => (await backlog(redis)).backlog === 0);
    // The entries leave the stream inside a job; its counters are added when it ends.
    await until('the worker to count them', async () => worker.stats().stored >= produced);
    expect(await countRows(store, agents)).toEqual({ rows: produced, distinct: produced });
    expect(worker.stats()).toMatchObject({ stored: produced, deadLettered: 0 });
    expect(worker.stats().lastError?.message).toMatch(/unavailable/);
  });

  it('on a Redis Cluster: queue keys in one slot ({tg-audit}), every shard drained, dead letters kept', {
    timeout: 60_000,
  }, async () => {
    const cluster = await startCluster();
    atTestEnd(() => cluster.stop());
    const ctg = await createTollgate({
      redis: { clusterNodes: cluster.nodes.map((n) => `${n.host}:${n.port}`) },
    });
    atTestEnd(() => ctg.close());
    const raw = new Cluster(cluster.nodes);
    atTestEnd(async () => raw.disconnect());
    const { store } = await pgliteStore();
    const worker = await startWorker({ redis: { clusterNodes: cluster.nodes }, store });
    const agents = await register(ctg, `cl-${hex()}`, 48);
    await decide(ctg, agents, 2_000);
    const bad = shardOf(agents[0] as string, DEFAULT_SHARDS);
    await raw.xadd(outboxKey(bad), '*', 'event_id', 'broken');
    await until('the backlog to drain', async () => (await backlog(raw)).backlog === 0);
    expect(await countRows(store, agents)).toEqual({ rows: 2_048, distinct: 2_048 });
    expect(await raw.xlen(deadLetterKey(bad))).toBe(1);
    await until('the worker to count them', async () => {
      const s = worker.stats();
      return s.stored >= 2_048 && s.deadLettered >= 1;
    });
    expect(worker.stats()).toMatchObject({ stored: 2_048, deadLettered: 1 });
    // Every BullMQ key sits in the {tg-audit} slot.
    const slot = await raw.cluster('KEYSLOT', '{tg-audit}');
    const keys: string[] = [];
    for (const node of raw.nodes('master')) keys.push(...(await node.keys('*tg-audit*')));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(k.startsWith('{tg-audit}:tg-audit:')).toBe(true);
      expect(await raw.cluster('KEYSLOT', k)).toBe(slot);
    }
  });
});

describe.each([{ kind: 'pglite' as const }, { kind: 'postgres' as const }])(
  'tollgate worker (child process, $kind)',
  ({ kind }) => {
    it('SIGKILLed mid-drain and started again: the same exact counts', {
      timeout: 60_000,
    }, async () => {
      await redis.flushall();
      let env: NodeJS.ProcessEnv;
      let open: () => Promise<AuditStore>;
      if (kind === 'pglite') {
        const dir = mkdtempSync(join(tmpdir(), 'tollgate-worker-child-'));
        atTestEnd(async () => rmSync(dir, { recursive: true, force: true }));
        env = { TOLLGATE_DATA_DIR: dir };
        open = () => createStore({ dataDir: join(dir, 'pglite') });
      } else {
        const { schema } = await pgStore();
        const sep = databaseUrl.includes('?') ? '&' : '?';
        env = {
          DATABASE_URL: `${databaseUrl}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
        };
        open = () => createStore({ databaseUrl: databaseUrl, schema });
      }
      const agents = await register(tg, `kill-${hex()}`, 200);
      await decide(tg, agents, 12_000, 64);
      const produced = await outboxEventCount(redis);
      expect(produced).toBe(12_200);

      const args = ['worker', '--batch', '100', '--concurrency', '4', '--lock-ms', '2000'];
      const entries = (await backlog(redis)).backlog; // one per script call: several events each
      const first = spawnCli(args, { ...env, REDIS_URL: server.url });
      await waitOutput(first, /audit worker ready/);
      await until('the drain to be under way', async () => {
        const b = (await backlog(redis)).backlog;
        return b < entries - Math.ceil(entries / 15);
      });
      first.proc.kill('SIGKILL');
      expect(await first.exited).toBeNull();
      // The drain jobs the killed worker held under a live lock: BullMQ's stalled check must hand
      // these on. (A drain can also run on after its lock lapsed, its process starved of CPU:
      // BullMQ has already handed that job on, but the drain's pending entries are still there,
      // to be claimed by the next drain of the shard.)
      const lockedAtKill = await lockedDrainJobs(redis);
      const atKill = await backlog(redis);
      expect(atKill.backlog).toBeGreaterThan(0); // killed mid-drain
      const eventsAtKill = await outboxEventCount(redis);

      const second = spawnCli(args, { ...env, REDIS_URL: server.url });
      await waitOutput(second, /audit worker ready/);
      await until('the backlog to drain', async () => (await backlog(redis)).backlog === 0, 40_000);
      // The killed worker's locked jobs are handed on by BullMQ's stalled check, which may come
      // after the backlog is gone (the other drains claim its entries): wait for it before stopping.
      await until(
        `${lockedAtKill.length} stalled drain(s) handed on`,
        async () =>
          (second.output().match(/audit drain stalled/g) ?? []).length >= lockedAtKill.length,
        30_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${second.output()}\n--- killed worker:\n${first.output()}`);
      });
      second.proc.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      const stopped = /audit worker stopped: (\{.*\})/.exec(second.output())?.[1];
      const stats = JSON.parse(stopped ?? '{}') as Partial<Record<string, number>>;
      // What the killed worker had read but not acknowledged was claimed by the new one,
      // and its locked jobs handed on by BullMQ's stalled check.
      expect(stats.claimed ?? 0).toBeGreaterThanOrEqual(atKill.pending);
      expect(stats.stalled ?? 0).toBeGreaterThanOrEqual(lockedAtKill.length);
      // Everything left at the kill went through the new worker: new rows, or rows the
      // killed one had committed without acknowledging (stored once, counted as duplicates).
      expect((stats.stored ?? 0) + (stats.duplicates ?? 0)).toBe(eventsAtKill);

      const store = await open();
      try {
        expect(await countRows(store, agents)).toEqual({ rows: produced, distinct: produced });
      } finally {
        await store.close();
      }
    });
  },
);

describe('CLI wiring', () => {
  it('tollgate serve --with-worker drains in process and stops cleanly on SIGTERM', {
    timeout: 40_000,
  }, async () => {
    await redis.flushall();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-worker-'));
    atTestEnd(async () => rmSync(dir, { recursive: true, force: true }));
    const serve = spawnCli(['serve', '--port', '0', '--with-worker'], {
      REDIS_URL: server.url,
      TOLLGATE_ADMIN_TOKEN: `admin-${hex()}-${hex()}`,
      TOLLGATE_DATA_DIR: dir,
    });
    await waitOutput(serve, /Audit worker: in process/);
    const agents = await register(tg, `serve-${hex()}`, 20);
    await decide(tg, agents, 500);
    await until('the backlog to drain', async () => (await backlog(redis)).backlog === 0);
    serve.proc.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    const store = await createStore({ dataDir: join(dir, 'pglite') });
    try {
      expect(await countRows(store, agents)).toEqual({ rows: 520, distinct: 520 });
    } finally {
      await store.close();
    }
  });

  it('tollgate worker refuses embedded mode (nothing to drain) and documents itself', async () => {
    const out = capture();
    expect(await runCli(['worker'], { REDIS_URL: '' }, out)).toBe(2);
    expect(out.stderr).toMatch(/REDIS_URL \/ REDIS_CLUSTER_NODES: the audit worker drains/);
    const help = capture();
    expect(await runCli(['worker', '--help'], {}, help)).toBe(0);
    expect(help.stdout).toMatch(/Usage: tollgate worker/);
    const bad = capture();
    expect(await runCli(['worker', '--batch', '5000'], { REDIS_URL: server.url }, bad)).toBe(2);
    expect(bad.stderr).toMatch(/--batch: expected an integer 1-1000/);
    await expect(runCli(['serve', '--with-worker'], {}, capture())).rejects.toThrow(
      /the audit worker drains Redis outboxes/,
    );
  });
});
