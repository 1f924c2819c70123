/**
 * vitest globalSetup: one private standalone Redis and one private 3-node
 * Redis Cluster for the whole run, started once in the main vitest process.
 * Tests read their addresses with `inject('redisUrl')` and
 * `inject('clusterNodes')` (import { inject } from 'vitest').
 */
// Brings 'vitest' into the program so the augmentation below always resolves
// (type-only: globalSetup must not load the test runner's entry at run time).
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startCluster, startRedis } from './redis-servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the run's private standalone Redis. */
    redisUrl: string;
    /** Seed nodes of the run's private 3-master Redis Cluster. */
    clusterNodes: { host: string; port: number }[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [redis, cluster] = await Promise.allSettled([startRedis(), startCluster()]);
  const teardown = async () => {
    await Promise.allSettled(
      [redis, cluster].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)),
    );
  };
  if (redis.status === 'rejected' || cluster.status === 'rejected') {
    // One of them may have started: do not leave it running.
    await teardown();
    throw redis.status === 'rejected' ? redis.reason : (cluster as PromiseRejectedResult).reason;
  }
  project.provide('redisUrl', redis.value.url);
  project.provide('clusterNodes', cluster.value.nodes);
  return teardown;
}
