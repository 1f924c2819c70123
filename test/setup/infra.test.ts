import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

describe('test infrastructure: private Redis', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('is a private instance on 127.0.0.1, not the shared 6379', () => {
    const url = new URL(inject('redisUrl'));
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.port).not.toBe('6379');
  });

  it('answers PING', async () => {
    expect(await redis.ping()).toBe('PONG');
  });

  it('runs with maxmemory-policy noeviction and no persistence', async () => {
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual([
      'maxmemory-policy',
      'noeviction',
    ]);
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
  });
});

describe('test infrastructure: private Redis Cluster', () => {
  let cluster: InstanceType<typeof Redis.Cluster>;
  const nodes = inject('clusterNodes');

  beforeAll(() => {
    cluster = new Redis.Cluster(nodes);
  });
  afterAll(async () => {
    await cluster.quit();
  });

  it('has three nodes, none on the shared 6379', () => {
    expect(nodes).toHaveLength(3);
    for (const node of nodes) expect(node.port).not.toBe(6379);
  });

  it('reports cluster_state:ok with all slots assigned', async () => {
    const info = await cluster.cluster('INFO');
    expect(info).toMatch(/^cluster_state:ok\r?$/m);
    expect(info).toMatch(/^cluster_slots_assigned:16384\r?$/m);
  });

  it('routes SET/GET on keys in different slots, on different masters', async () => {
    const keys = ['tg:{s0}:infra', 'tg:{s1}:infra', 'tg:{s2}:infra', 'tg:{s3}:infra'];
    const slots = await Promise.all(keys.map((k) => cluster.cluster('KEYSLOT', k)));
    expect(new Set(slots).size).toBe(keys.length);

    for (const [i, key] of keys.entries()) await cluster.set(key, `v${i}`);
    for (const [i, key] of keys.entries()) expect(await cluster.get(key)).toBe(`v${i}`);

    // CLUSTER SLOTS: [[start, end, [host, port, id], ...], ...]
    const ranges = await cluster.cluster('SLOTS');
    const owner = (slot: number) =>
      ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
    expect(new Set(slots.map(owner)).size).toBeGreaterThan(1);

    for (const key of keys) await cluster.del(key);
  });
});
