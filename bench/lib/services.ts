/**
 * The private services a benchmark starts, each stopped by the harness at the
 * end, on an error and on Ctrl-C (never the shared Redis on 6379 or an
 * existing database): a redis-server, a Redis Cluster (3 masters, or 3
 * masters with a replica each), a fresh PostgreSQL database.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { createTestDatabase } from '../../test/setup/postgres.js';
import { startReplicatedCluster } from '../../test/setup/redis-cluster-replicas.js';
import { type RedisClusterNode, startCluster, startRedis } from '../../test/setup/redis-servers.js';
import type { BenchContext } from './harness.js';
import { parseInfo } from './redis-stats.js';

export interface BenchRedis {
  url: string;
  port: number;
  /** A connection of the bench's own, for INFO, CONFIG RESETSTAT and the outboxes. */
  admin: Redis;
  version: string;
  /** Stops it now (otherwise the harness does at the end). */
  stop(): Promise<void>;
}

/** A private redis-server (test/setup/redis-servers.ts: no persistence, a free port). */
export async function privateRedis(ctx: BenchContext): Promise<BenchRedis> {
  const server = await startRedis();
  const stopServer = ctx.onStop(() => server.stop());
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const stopAdmin = ctx.onStop(() => admin.disconnect());
  const version = parseInfo(await admin.info('server')).get('redis_version') ?? '?';
  ctx.log(`private redis-server ${version} on :${server.port}`);
  return {
    url: server.url,
    port: server.port,
    admin,
    version,
    async stop() {
      await stopAdmin();
      await stopServer();
    },
  };
}

export interface BenchCluster {
  nodes: RedisClusterNode[];
  stop(): Promise<void>;
}

/** A private Redis Cluster: three masters, or three masters with one replica each. */
export async function privateCluster(ctx: BenchContext, replicas: boolean): Promise<BenchCluster> {
  const c = replicas ? await startReplicatedCluster() : await startCluster();
  const stop = ctx.onStop(() => c.stop());
  ctx.log(
    `private Cluster${replicas ? ' with replicas' : ''} on :${c.nodes.map((n) => n.port).join(', :')}`,
  );
  return { nodes: c.nodes, stop };
}

export interface BenchDatabase {
  name: string;
  url: string;
  /** The server's version string (`SHOW server_version`). */
  version: string;
  /** Settings that bear on insert speed. */
  settings: Record<string, string>;
  /** Process ids of the backends connected to other databases now (other people's work). */
  otherBackendPids(): Promise<Set<number>>;
}

/**
 * A fresh database `tollgate_test_<random>` on the local PostgreSQL
 * (test/setup/postgres.ts; BENCH_PG_ADMIN_URL names the admin connection),
 * dropped at the end, and an admin client kept until then.
 */
export async function benchDatabase(ctx: BenchContext): Promise<BenchDatabase> {
  const adminUrl = process.env.BENCH_PG_ADMIN_URL || undefined;
  const db = await createTestDatabase(adminUrl);
  ctx.onStop(() => db.drop());
  const admin = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  ctx.onStop(() => admin.end());
  const show = async (name: string) => String((await admin.query(`SHOW ${name}`)).rows[0]?.[name]);
  const settings: Record<string, string> = {};
  for (const s of ['synchronous_commit', 'fsync', 'shared_buffers', 'wal_level']) {
    settings[s] = await show(s);
  }
  const version = await show('server_version');
  ctx.log(`PostgreSQL ${version}: fresh database ${db.name}`);
  return {
    name: db.name,
    url: db.url,
    version,
    settings,
    async otherBackendPids() {
      const r = await admin.query(
        'SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> $1',
        [db.name],
      );
      return new Set(r.rows.map((row: { pid: number }) => Number(row.pid)));
    },
  };
}
