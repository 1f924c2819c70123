/**
 * The audit worker's test harness (test/audit/worker*.test.ts): traffic
 * through a Tollgate, the outbox backlog, the rows a store holds, stores that
 * fail on demand, a PostgreSQL that refuses connections, in-process workers
 * and `tollgate` child processes. What a helper starts is stopped when the
 * test that started it ends (vitest's onTestFinished, last first): call them
 * from tests that run one at a time, not concurrent ones.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { inject, onTestFinished } from 'vitest';
import {
  type AuditWorkerOptions,
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
import { DEFAULT_SHARDS, shardOf } from '../../src/engine/keys.js';
import { TollgateError } from '../../src/errors.js';
import type { Tollgate } from '../../src/index.js';
import { CLI_FROM_SOURCE } from './serve-process.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const hex = () => randomBytes(4).toString('hex');

/** Stops something when the current test ends (errors ignored); the last registered stops first. */
export function atTestEnd(stop: () => Promise<unknown>): void {
  onTestFinished(async () => {
    await stop().catch(() => undefined);
  });
}

/** Fast settings for tests: short retries, short locks. */
const FAST: Partial<AuditWorkerOptions> = {
  everyMs: 50,
  backoffMs: 50,
  maxBackoffMs: 400,
  lockDurationMs: 2_000,
  stalledIntervalMs: 1_000,
  log: () => undefined,
};

/** The audit rows of these agents (all rows without them), and how many distinct event ids. */
export async function countRows(
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

/** Outbox entries not yet drained, and those read but not acknowledged, over every shard. */
export async function backlog(r: RedisClient): Promise<{ backlog: number; pending: number }> {
  const lag = await outboxLag({ redis: r, shards: DEFAULT_SHARDS });
  return {
    backlog: lag.reduce((a, l) => a + l.backlog, 0),
    pending: lag.reduce((a, l) => a + l.pending, 0),
  };
}

export async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** `n` coders `<prefix>-<i>`: one event each. */
export async function register(tg: Tollgate, prefix: string, n: number): Promise<string[]> {
  const agents = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await Promise.all(agents.map((a) => tg.identity.registerAgent(a, 'coder')));
  return agents;
}

/** `n` authorize calls over `agents`, `concurrency` at a time. */
export async function decide(
  tg: Tollgate,
  agents: string[],
  n: number,
  concurrency = 32,
): Promise<void> {
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
export async function steady(
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
export function watched(store: AuditStore, down: () => boolean) {
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

/** A PGlite store in a new folder (closed and removed afterwards). */
export async function pgliteStore(): Promise<{ store: AuditStore; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-worker-'));
  const store = await createStore({ dataDir: dir });
  atTestEnd(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

/** A fresh schema on the run's PostgreSQL (dropped afterwards). */
export async function pgStore(): Promise<{ store: PostgresStore; schema: string }> {
  const schema = `tg_worker_${hex()}`;
  const store = (await createStore({
    databaseUrl: inject('databaseUrl'),
    schema,
  })) as PostgresStore;
  atTestEnd(async () => {
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
export async function tcpProxy(target: { host: string; port: number }) {
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

/** An in-process worker with the FAST settings (closed afterwards). */
export async function startWorker(
  opts: Partial<AuditWorkerOptions> & Pick<AuditWorkerOptions, 'store' | 'redis'>,
) {
  const w = await startAuditWorker({ ...FAST, ...opts });
  atTestEnd(() => w.close());
  return w;
}

export interface Child {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** `tollgate <args>` from the sources, with no Redis, store or folder but those `env` gives (SIGKILLed afterwards). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, [...CLI_FROM_SOURCE, ...args], {
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
  atTestEnd(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  return { proc, output: () => out, exited };
}

/** Drain jobs in BullMQ's active list whose lock is still held. */
export async function lockedDrainJobs(r: Redis): Promise<string[]> {
  const base = `${QUEUE_PREFIX}:${QUEUE_NAME}:`;
  const active = await r.lrange(`${base}active`, 0, -1);
  const locked: string[] = [];
  for (const id of active) {
    if (id.startsWith('drain-') && (await r.exists(`${base}${id}:lock`)) === 1) locked.push(id);
  }
  return locked;
}

/** Waits for `re` in the child's output; fails, with the output, if it exits first. */
export async function waitOutput(c: Child, re: RegExp, timeoutMs = 30_000): Promise<void> {
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
