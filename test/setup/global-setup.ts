/**
 * The integration project's globalSetup (vitest.config.ts): one private
 * standalone Redis and one private 3-node Redis Cluster for the whole run,
 * started once in the main vitest process, and a fresh PostgreSQL database on
 * the local server (dropped at the end), and a migrated PGlite folder that
 * new PGlite stores start from (./pglite-seed.ts). Tests read their addresses
 * with `inject('redisUrl')`, `inject('clusterNodes')` and `inject('databaseUrl')`
 * (types in ./provided.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { PGliteStore } from '../../src/audit/store/pglite.js';
import { createTestDatabase } from './postgres.js';
import { startCluster, startRedis } from './redis-servers.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [redis, cluster, database, template] = await Promise.allSettled([
    startRedis(),
    startCluster(),
    createTestDatabase(),
    pgliteTemplate(),
  ]);
  const teardown = async () => {
    if (template.status === 'fulfilled')
      await rm(template.value.root, { recursive: true, force: true });
    await Promise.allSettled(
      [redis, cluster].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)),
    );
    if (database.status === 'fulfilled') {
      await database.value.drop().catch((e: unknown) => {
        console.warn(`could not drop ${database.value.name}: ${(e as Error).message}`);
      });
    }
  };
  if (redis.status === 'rejected' || cluster.status === 'rejected') {
    // One of them may have started: do not leave it running.
    await teardown();
    throw redis.status === 'rejected' ? redis.reason : (cluster as PromiseRejectedResult).reason;
  }
  if (database.status === 'rejected' || template.status === 'rejected') {
    await teardown();
    throw database.status === 'rejected'
      ? database.reason
      : (template as PromiseRejectedResult).reason;
  }
  project.provide('redisUrl', redis.value.url);
  project.provide('clusterNodes', cluster.value.nodes);
  project.provide('databaseUrl', database.value.url);
  project.provide('pgliteTemplate', template.value.dir);
  return teardown;
}

/** A PGlite folder at the latest migration, made once per run (./pglite-seed.ts). */
async function pgliteTemplate(): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'tollgate-pglite-template-'));
  const dir = join(root, 'pglite');
  const store = await PGliteStore.open({ dataDir: dir });
  await store.close();
  return { root, dir };
}
