/**
 * An API process killed right after a decision: its event still arrives. The
 * event is appended to the outbox by the same script that decided, before the
 * answer leaves Redis, so a process that dies after answering loses nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { drainShard } from '../../src/audit/drain/index.js';
import { createStore } from '../../src/audit/store/index.js';
import type { AuditStore } from '../../src/audit/store/types.js';
import { TollgateClient } from '../../src/client/index.js';
import { DEFAULT_SHARDS, shardOf } from '../../src/engine/keys.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { spawnServe } from '../support/serve-process.js';

const ADMIN = 'kill-test-admin-token-0123456789';
let redis: RedisServer;
let store: AuditStore;
const dir = mkdtempSync(join(tmpdir(), 'tg-kill-'));

beforeAll(async () => {
  redis = await startRedis();
  store = await createStore({ dataDir: join(dir, 'pglite') });
});
afterAll(async () => {
  await store.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('the decision event of a process SIGKILLed right after answering reaches the store', {
  timeout: 60_000,
}, async () => {
  const { proc, output } = await spawnServe(
    {
      REDIS_URL: redis.url,
      REDIS_CLUSTER_NODES: '',
      DATABASE_URL: '',
      TOLLGATE_DATA_DIR: join(dir, 'serve'),
      TOLLGATE_ADMIN_TOKEN: ADMIN,
    },
    /Tollgate listening on http:\/\/localhost:\d+/,
  );
  const url = /Tollgate listening on (http:\/\/localhost:\d+)/.exec(output())?.[1] ?? '';
  const admin = new TollgateClient({ baseUrl: url, token: ADMIN, retries: 1 });
  await admin.registerAgent({ agent_id: 'doomed', role: 'coder' });
  const d = await admin.authorize({ agent_id: 'doomed', operation: 'write_file' });
  proc.kill('SIGKILL');
  await new Promise((r) => proc.once('exit', r));
  expect(d.allowed).toBe(true);
  if (!d.allowed) return;

  const client = new Redis(redis.url);
  try {
    await drainShard({
      redis: client,
      store,
      shard: shardOf('doomed', DEFAULT_SHARDS),
      consumer: 'kill-test',
    });
  } finally {
    client.disconnect();
  }
  const page = await store.queryEvents({ agentId: 'doomed', type: 'decision' });
  expect(page.events).toEqual([
    expect.objectContaining({
      allowed: true,
      reservation_id: d.reservation_id,
      operation: 'write_file',
    }),
  ]);
});
