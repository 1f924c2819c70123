/**
 * The BullMQ audit worker (src/audit/drain/worker.ts, `tollgate worker`,
 * `tollgate serve --with-worker`), on private Redis servers (a drain deletes
 * what it stores, so it never runs on the run's shared Redis): traffic drained
 * as it comes, one drain per shard at a time, the store away for a while, a
 * worker process SIGKILLed mid-drain, a Redis Cluster.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type AuditWorkerOptions,
  deadLetterKey,
  outboxLag,
  QUEUE_NAME,
  QUEUE_PREFIX,
  type RedisClient,
  startAuditWorker,
} from '../../src/audit/drain/index.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import { PGliteStore } from '../../src/audit/store/pglite.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';
import { runCli } from '../../src/cli/index.js';
import { DEFAULT_SHARDS, outboxKey, shardOf } from '../../src/engine/keys.js';
import { TollgateError } from '../../src/errors.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startCluster, startRedis } from '../setup/redis-servers.js';
import { capture } from '../support/capture.js';
import { outboxEventCount } from '../support/outbox.js';
import { SEED_CHILD } from '../support/serve-process.js';

/** The run's fresh PostgreSQL database (test/setup/postgres.ts); each test keeps to a schema of its own. */
const databaseUrl = inject('databaseUrl');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = () => randomBytes(4).toString('hex');

/** Fast settings for tests: short retries, short locks. */
const FAST: Partial<AuditWorkerOptions> = {
  everyMs: 50,
  backoffMs: 50,
  maxBackoffMs: 400,
  lockDurationMs: 2_000,
  stalledIntervalMs: 1_000,
  log: () => undefined,
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function countRows(
  s: AuditStore,
  agents?: string[],
): Promise<{ rows: number; distinct: number }> {
  const sql = `SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct
                 FROM audit_events WHERE ($1::text[] IS NULL OR agent_id = ANY($1))`;
  const r =
    s instanceof PGliteStore
      ? (await s.pg.query<{ rows: number; distinct: number }>(sql, [agents ?? null])).rows[0]
      : (await (s as PostgresStore).pool.query(sql, [agents ?? null])).rows[0];
  return { rows: Number(r?.rows), distinct: Number(r?.distinct) };
}

async function backlog(r: RedisClient): Promise<{ backlog: number; pending: number }> {
  const lag = await outboxLag({ redis: r, shards: DEFAULT_SHARDS });
  return {
    backlog: lag.reduce((a, l) => a + l.backlog, 0),
    pending: lag.reduce((a, l) => a + l.pending, 0),
  };
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function register(tg: Tollgate, prefix: string, n: number): Promise<string[]> {
  const agents = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await Promise.all(agents.map((a) => tg.identity.registerAgent(a, 'coder')));
  return agents;
}

/** `n` authorize calls over `agents`, `concurrency` at a time. */
async function decide(tg: Tollgate, agents: string[], n: number, concurrency = 32): Promise<void> {
  const ops = ['read_file', 'write_file', 'deploy'];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        await tg.guard.checkPermission(agents[i % agents.length] as string, ops[i % 3] as string, {
          estimatedTokens: 100,
        });
      }
    }),
  );
}

/** Steady traffic: `rounds` bursts of `perRound` decisions, `gapMs` apart. */
async function steady(
  tg: Tollgate,
  agents: string[],
  rounds: number,
  perRound: number,
  gapMs = 50,
) {
  for (let i = 0; i < rounds; i++) {
    await decide(tg, agents, perRound, 16);
    await sleep(gapMs);
  }
}

/** Wraps a store: insertEvents fails with STORE_UNAVAILABLE while `down()`; tracks drains per shard. */
function watched(store: AuditStore, down: () => boolean) {
  const active = new Map<number, number>();
  let maxPerShard = 0;
  const s: AuditStore = Object.assign(Object.create(store) as AuditStore, {
    async insertEvents(events: readonly AuditEvent[]) {
      const shard = shardOf(events[0]?.agent_id ?? '', DEFAULT_SHARDS);
      const n = (active.get(shard) ?? 0) + 1;
      active.set(shard, n);
      maxPerShard = Math.max(maxPerShard, n);
      try {
        if (down()) throw new TollgateError('STORE_UNAVAILABLE', 'Audit store unavailable: test');
        await sleep(2); // widen the window in which a second drain of the shard would show
        return await store.insertEvents(events);
      } finally {
        active.set(shard, (active.get(shard) ?? 1) - 1);
      }
    },
  });
  return { store: s, maxPerShard: () => maxPerShard };
}

async function pgliteStore(): Promise<{ store: AuditStore; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-worker-'));
  const store = await createStore({ dataDir: dir });
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

/** A fresh schema on the run's PostgreSQL (dropped afterwards). */
async function pgStore(): Promise<{ store: PostgresStore; schema: string }> {
  const schema = `tg_worker_${hex()}`;
  const store = (await createStore({
    databaseUrl: databaseUrl,
    schema,
  })) as PostgresStore;
  cleanups.push(async () => {
    await store.pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await store.close();
  });
  return { store, schema };
}

/**
 * A TCP proxy in front of PostgreSQL that the test can take away: down()
 * closes the listener and cuts every connection (the port refuses), up()
 * listens on the same port again.
 */
async function tcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const sock of sockets) sock.destroy();
      if (server === undefined) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await up();
  return { port: () => port, up, down };
}

// ---------------------------------------------------------------------------

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

async function startWorker(opts: Partial<AuditWorkerOptions> & Pick<AuditWorkerOptions, 'store'>) {
  const w = await startAuditWorker({ ...FAST, redis: server.url, ...opts });
  cleanups.push(() => w.close());
  return w;
}

describe('the audit worker (in process)', () => {
  it('drains traffic as it comes, one drain per shard at a time across two workers', async () => {
    await redis.flushall();
    const { store } = await pgliteStore();
    const w = watched(store, () => false);
    const [a, b] = [
      await startWorker({ store: w.store, concurrency: 4 }),
      await startWorker({ store: w.store, concurrency: 4 }),
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
    const worker = await startWorker({ store: w.store });
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

  it('PostgreSQL refusing connections (at start, and for 30 s mid-run), then back: 0 events lost', {
    timeout: 90_000,
  }, async () => {
    await redis.flushall();
    const { store: direct, schema } = await pgStore();
    const u = new URL(databaseUrl);
    const proxy = await tcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    cleanups.push(() => proxy.down());
    await proxy.down(); // the worker starts while the database refuses connections
    const viaProxy = new URL(databaseUrl);
    viaProxy.host = `127.0.0.1:${proxy.port()}`;
    const worker = await startWorker({
      store: () => createStore({ databaseUrl: viaProxy.toString(), schema }),
    });
    const agents = await register(tg, `pgdown-${hex()}`, 30);
    await steady(tg, agents, 4, 250);
    await until('failures to show', async () => worker.stats().failures >= 2);
    await proxy.up();
    await steady(tg, agents, 4, 250);
    await proxy.down();
    const downAt = Date.now();
    await steady(tg, agents, 4, 250);
    await sleep(Math.max(0, 30_000 - (Date.now() - downAt))); // the store is away for 30 s
    expect(worker.stats().failures).toBeGreaterThanOrEqual(3);
    await proxy.up();
    const produced = 30 + 3_000;
    await until('the backlog to drain', async () => (await backlog(redis)).backlog === 0);
    expect(await countRows(direct, agents)).toEqual({ rows: produced, distinct: produced });
    expect(worker.stats().failures).toBeGreaterThanOrEqual(2);
    // A batch whose commit succeeded but whose reply was cut off failed its
    // attempt and was delivered again: the store kept it once (duplicates).
    // The backlog is acknowledged inside the last job, which adds its counts
    // only when it returns: wait for them.
    await until('the worker to count them', async () => {
      const s = worker.stats();
      return s.stored + s.duplicates >= produced;
    });
    const stats = worker.stats();
    expect(stats.stored).toBeLessThanOrEqual(produced);
    expect(stats.stored + stats.duplicates).toBeGreaterThanOrEqual(produced);
  });

  it('on a Redis Cluster: queue keys in one slot ({tg-audit}), every shard drained, dead letters kept', {
    timeout: 60_000,
  }, async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const ctg = await createTollgate({
      redis: { clusterNodes: cluster.nodes.map((n) => `${n.host}:${n.port}`) },
    });
    cleanups.push(() => ctg.close());
    const raw = new Cluster(cluster.nodes);
    cleanups.push(async () => raw.disconnect());
    const { store } = await pgliteStore();
    const worker = await startAuditWorker({
      ...FAST,
      redis: { clusterNodes: cluster.nodes },
      store,
    });
    cleanups.push(() => worker.close());
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

// ---------------------------------------------------------------------------
// The worker as a child process

interface Child {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv): Child {
  const entry = ['--import', 'tsx', '--import', SEED_CHILD, 'src/cli/main.ts'];
  const proc = spawn(process.execPath, [...entry, ...args], {
    env: {
      ...process.env,
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: '',
      DATABASE_URL: '',
      TOLLGATE_DATA_DIR: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  return { proc, output: () => out, exited };
}

/** Drain jobs in BullMQ's active list whose lock is still held. */
async function lockedDrainJobs(r: Redis): Promise<string[]> {
  const base = `${QUEUE_PREFIX}:${QUEUE_NAME}:`;
  const active = await r.lrange(`${base}active`, 0, -1);
  const locked: string[] = [];
  for (const id of active) {
    if (id.startsWith('drain-') && (await r.exists(`${base}${id}:lock`)) === 1) locked.push(id);
  }
  return locked;
}

async function waitOutput(c: Child, re: RegExp, timeoutMs = 30_000): Promise<void> {
  await until(
    `${re} in the output`,
    async () => {
      if (c.proc.exitCode !== null) throw new Error(`exited early:\n${c.output()}`);
      return re.test(c.output());
    },
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${c.output()}`);
  });
}

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
        cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
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
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
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
