/**
 * The BullMQ audit worker (src/audit/drain/worker.ts) while PostgreSQL refuses
 * connections: at its start, and for 30 s mid-run, then back, with no event
 * lost. On a Redis of its own (a drain deletes what it stores); a file of its
 * own so that the wait overlaps other files. The other worker tests are in
 * worker.test.ts.
 */
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { createStore } from '../../src/audit/store/index.js';
import { createTollgate } from '../../src/index.js';
import { startRedis } from '../setup/redis-servers.js';
import {
  atTestEnd,
  backlog,
  countRows,
  hex,
  pgStore,
  register,
  sleep,
  startWorker,
  steady,
  tcpProxy,
  until,
} from '../support/audit-worker.js';

/** The run's fresh PostgreSQL database (test/setup/postgres.ts); the test keeps to a schema of its own. */
const databaseUrl = inject('databaseUrl');

describe('the audit worker (in process)', () => {
  it('PostgreSQL refusing connections (at start, and for 30 s mid-run), then back: 0 events lost', {
    timeout: 90_000,
  }, async () => {
    const server = await startRedis();
    atTestEnd(() => server.stop());
    const redis = new Redis(server.url);
    atTestEnd(async () => redis.disconnect());
    const tg = await createTollgate({ redis: server.url });
    atTestEnd(() => tg.close());
    const { store: direct, schema } = await pgStore();
    const u = new URL(databaseUrl);
    const proxy = await tcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    atTestEnd(() => proxy.down());
    await proxy.down(); // the worker starts while the database refuses connections
    const viaProxy = new URL(databaseUrl);
    viaProxy.host = `127.0.0.1:${proxy.port()}`;
    const worker = await startWorker({
      redis: server.url,
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
});
