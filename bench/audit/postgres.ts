/**
 * PostgreSQL for the bench: a fresh database `tollgate_bench_<random>` on the
 * local server (127.0.0.1:5432, user postgres; BENCH_PG_ADMIN_URL overrides
 * the admin connection), dropped at the end; and the server's CPU time, read
 * from /proc (the bench database's backends and the server's own processes:
 * WAL writer, checkpointer, …), since pg_stat_statements is usually not
 * preloaded.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

export const ADMIN_URL =
  process.env.BENCH_PG_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  name: string;
  url: string;
  /** The server's version string (`SHOW server_version`). */
  version: string;
  /** Settings that bear on insert speed. */
  settings: Record<string, string>;
  /** Process ids of the backends connected to other databases now (other people's work). */
  otherBackendPids(): Promise<Set<number>>;
  drop(): Promise<void>;
}

/** Creates the database (through the admin database) and keeps one admin client until drop(). */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  const name = `tollgate_bench_${randomBytes(5).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }
  const version = String((await admin.query('SHOW server_version')).rows[0]?.server_version);
  const settings: Record<string, string> = {};
  for (const s of ['synchronous_commit', 'fsync', 'shared_buffers', 'wal_level']) {
    settings[s] = String((await admin.query(`SHOW ${s}`)).rows[0]?.[s]);
  }
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: u.toString(),
    version,
    settings,
    async otherBackendPids() {
      const r = await admin.query(
        'SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> $1 AND pid <> pg_backend_pid()',
        [name],
      );
      return new Set(r.rows.map((row: { pid: number }) => Number(row.pid)));
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end().catch(() => undefined);
      }
    },
  };
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) of every process named `postgres`, by pid. */
export function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  const hz = clockTicks();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone, or not ours to read
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (stat.slice(open + 1, close) !== 'postgres') continue;
    // Fields after the command: state is field 3, utime 14, stime 15.
    const f = stat.slice(close + 2).split(' ');
    out.set(Number(entry), (Number(f[11]) + Number(f[12])) / hz);
  }
  return out;
}

/**
 * CPU seconds the server spent for the bench between two snapshots: every
 * postgres process alive at the second (one started in between counts from
 * zero: a new backend of the pool) except the backends of other databases
 * (`others`): this database's backends and the server's own processes (WAL
 * writer, checkpointer, …).
 */
export function postgresCpuDelta(
  before: Map<number, number>,
  after: Map<number, number>,
  others: Set<number>,
): number {
  let sum = 0;
  for (const [pid, s] of after) {
    if (!others.has(pid)) sum += s - (before.get(pid) ?? 0);
  }
  return sum;
}
