/**
 * Made-up agent keys write nothing: 1,000 authorizes over HTTP with forged
 * keys (well shaped, `tg_<agent>.<43 base64url>`), half for an agent id that
 * does not exist and half for one that does, with and without request ids.
 * Every answer is 401 UNAUTHENTICATED, and the store is byte for byte as
 * before: no outbox entry, no key, no changed value (DUMP of every key of a
 * Redis of this file's own), no counter (operations_blocked), no audit row.
 * (One exception, checked apart: the ready marker of a shard that had none,
 * written by the first request to reach that shard.)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { uid } from '../support/engines.js';
import { type Api, type Reply, startApi } from './harness.js';

const N = 1000;
const CONCURRENCY = 25;

function forgedKey(agentId: string): string {
  return `tg_${agentId}.${randomBytes(32).toString('base64url')}`;
}

/** `n` authorizes with forged keys, alternating the two agents; every reply. */
async function forgeAll(api: Api, agents: [string, string], n = N): Promise<Reply[]> {
  const replies: Reply[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const agentId = agents[i % 2] as string;
      const body: Record<string, unknown> = {
        agent_id: agentId,
        operation: i % 3 === 0 ? 'write_file' : 'read_file',
        estimated_tokens: 100 + (i % 7),
      };
      if (i % 4 < 2) body.request_id = `forged-${i}`;
      replies[i] = await api.call('POST', '/v1/authorize', { token: forgedKey(agentId), body });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return replies;
}

function expectAll401(replies: Reply[]): void {
  expect(replies).toHaveLength(N);
  const wrong = replies.filter(
    (r) => r.status !== 401 || r.body?.error?.code !== 'UNAUTHENTICATED',
  );
  expect(wrong.slice(0, 3).map((r) => `${r.status} ${r.text}`)).toEqual([]);
}

describe('on Redis', () => {
  let server: RedisServer;
  let raw: Redis;
  let api: Api;

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
    api = await startApi({ tollgate: { redis: server.url } });
  });
  afterAll(async () => {
    await api?.close();
    raw?.disconnect();
    await server?.stop();
  });

  /** Every key with its serialized value (DUMP), and the key count. */
  async function snapshot(): Promise<{ size: number; keys: Record<string, string> }> {
    const keys: Record<string, string> = {};
    for (const k of (await raw.keys('*')).sort()) {
      keys[k] = ((await raw.dumpBuffer(k)) ?? Buffer.alloc(0)).toString('base64');
    }
    return { size: await raw.dbsize(), keys };
  }

  it('1,000 forged keys: 401 each, nothing written', { timeout: 120_000 }, async () => {
    const { id } = await api.agent('coder');
    const ghost = uid('ghost');
    // A shard without its ready marker is recovered (marked ready) by the
    // first request that reaches it, whoever sends it: that marker is the only
    // key a forged request may leave, and only once per shard.
    const cold = await snapshot();
    await forgeAll(api, [ghost, id], 2);
    const warm = await snapshot();
    const added = Object.keys(warm.keys).filter((k) => !(k in cold.keys));
    expect(added.filter((k) => !/^tg:\{s\d+\}:ready$/.test(k))).toEqual([]);
    const before = await snapshot();
    const statusBefore = (await api.call('GET', `/v1/agents/${id}/budget`)).body;

    expectAll401(await forgeAll(api, [ghost, id]));

    const after = await snapshot();
    expect(after.size).toBe(before.size);
    expect(Object.keys(after.keys)).toEqual(Object.keys(before.keys));
    expect(after.keys).toEqual(before.keys);
    const statusAfter = (await api.call('GET', `/v1/agents/${id}/budget`)).body;
    expect(statusAfter.operations_blocked).toBe(0);
    expect({ ...statusAfter, daily: undefined }).toEqual({ ...statusBefore, daily: undefined });
    expect((await api.call('GET', `/v1/agents/${ghost}`)).status).toBe(404);
  });
});

describe('embedded (MemoryEngine, a PGlite store and its drain)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-forged-'));
  let api: Api;

  beforeAll(async () => {
    api = await startApi({
      tollgate: { redis: undefined, store: { dataDir: join(dir, 'pglite') } },
    });
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function rows(agentId: string): Promise<number> {
    await api.tg.drain?.flush();
    const store = api.tg.store;
    if (store === undefined) throw new Error('no store');
    return (await store.queryEvents({ agentId, limit: 1000 })).events.length;
  }

  it('1,000 forged keys: 401 each, nothing in the outbox, no audit row, no agent', {
    timeout: 120_000,
  }, async () => {
    const { id } = await api.agent('coder');
    const ghost = uid('ghost');
    const rowsBefore = { id: await rows(id), ghost: await rows(ghost) };
    expect(rowsBefore).toEqual({ id: 1, ghost: 0 });
    const outboxBefore = (await api.tg.engine.readOutbox()).length;
    const agentsBefore = (await api.tg.engine.listAgents()).length;
    const statusBefore = await api.tg.engine.status(id);

    expectAll401(await forgeAll(api, [ghost, id]));

    expect((await api.tg.engine.readOutbox()).length).toBe(outboxBefore);
    expect({ id: await rows(id), ghost: await rows(ghost) }).toEqual(rowsBefore);
    expect((await api.tg.engine.listAgents()).length).toBe(agentsBefore);
    expect(await api.tg.engine.getAgent(ghost)).toBeNull();
    const statusAfter = await api.tg.engine.status(id);
    expect({ ...statusAfter, nowMs: 0 }).toEqual({ ...statusBefore, nowMs: 0 });
  });
});
