/**
 * The integration project's globalSetup (vitest.config.ts): one private
 * standalone Redis and one private 3-node Redis Cluster for the whole run,
 * started once in the main vitest process, and a fresh PostgreSQL database on
 * the local server (dropped at the end). Tests read their addresses with
 * `inject('redisUrl')`, `inject('clusterNodes')` and `inject('databaseUrl')`
 * (types in ./provided.ts).
 */
import type { TestProject } from 'vitest/node';
import { createTestDatabase } from './postgres.js';
import { startCluster, startRedis } from './redis-servers.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [redis, cluster, database] = await Promise.allSettled([
    startRedis(),
    startCluster(),
    createTestDatabase(),
  ]);
  const teardown = async () => {
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
  if (database.status === 'rejected') {
    await teardown();
    throw database.reason;
  }
  project.provide('redisUrl', redis.value.url);
  project.provide('clusterNodes', cluster.value.nodes);
  project.provide('databaseUrl', database.value.url);
  return teardown;
}
