import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';

describe('startup against a Redis that may evict keys', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('is refused', async () => {
    await expect(createTollgate({ redis: redis.url })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining("'allkeys-lru'"),
    });
  });

  it('is accepted with allowEviction, with a warning', async () => {
    const warnings: string[] = [];
    const tg = await createTollgate({
      redis: redis.url,
      allowEviction: true,
      warn: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([expect.stringContaining('WARNING')]);
    await tg.close();
  });
});
