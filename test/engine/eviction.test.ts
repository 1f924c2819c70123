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
    // The message names both ways out.
    const e = (await createTollgate({ redis: redis.url }).catch((err: unknown) => err)) as Error;
    expect(e.message).toContain('CONFIG SET maxmemory-policy noeviction');
    expect(e.message).toContain('--allow-eviction');
    expect(e.message).toContain('TOLLGATE_ALLOW_EVICTION');
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
