/**
 * Budget alerts to webhooks in Redis mode: alert events XADDed to a shard's
 * outbox as the deciding script appends its events, drained by the BullMQ
 * audit worker into PostgreSQL, delivered by the worker's BullMQ queue
 * `{tg-alerts}`; the API (RedisEngine, the same store) registers the webhooks
 * and lists and retries the dead letters. Each test has a private Redis (the
 * drain deletes what it stores) and a schema of its own.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ALERTS_QUEUE_PREFIX, type AlertOptions } from '../../src/alerts/index.js';
import { type AuditWorker, startAuditWorker } from '../../src/audit/drain/index.js';
import { parseOutboxFields } from '../../src/audit/event.js';
import { PostgresStore } from '../../src/audit/store/postgres.js';
import { type Api, startApi } from '../api/harness.js';
import { startCluster, startRedis } from '../setup/redis-servers.js';
import {
  alertFields,
  appendToRedisOutbox,
  documentedVerify,
  type Receiver,
  sleep,
  startReceiver,
  until,
} from './helpers.js';

const SECRET = 'redis-mode-secret-0123456789';
const quiet = () => undefined;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Env {
  api: Api;
  worker: AuditWorker;
  store: PostgresStore;
  redis: Redis;
}

/** A private Redis, a fresh schema, the audit worker (alerts on), and the API with its metrics counting the worker. */
async function env(alerts: AlertOptions): Promise<Env> {
  const server = await startRedis();
  cleanups.push(() => server.stop());
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const store = await PostgresStore.open({ databaseUrl: inject('databaseUrl'), schema });
  cleanups.push(() => store.close());
  const worker = await startAuditWorker({
    redis: server.url,
    store,
    ownsStore: false,
    everyMs: 50,
    sweepEveryMs: 0,
    log: quiet,
    alerts: { resumeEveryMs: 100, timeoutMs: 2_000, log: quiet, ...alerts },
  });
  cleanups.push(() => worker.close());
  const api = await startApi({
    tollgate: { redis: server.url, store },
    app: { metrics: { worker } },
  });
  cleanups.push(() => api.close());
  const redis = new Redis(server.url);
  cleanups.push(() => redis.quit());
  return { api, worker, store, redis };
}

async function receiver(mode: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(mode);
  cleanups.push(() => r.close());
  return r;
}

async function webhook(api: Api, url: string): Promise<string> {
  const res = await api.call('POST', '/v1/webhooks', {
    body: { url, secret: SECRET, events: ['budget_alert'] },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id as string;
}

describe('budget alerts, Redis mode (BullMQ)', () => {
  it('the receiver refusing for 12 s, then 503 until 30 s, then up: delivered once, signature valid', {
    timeout: 90_000,
  }, async () => {
    const verify = await documentedVerify();
    // Retries after 1, 2, 4, 8, 16, 32 s: attempts at about 0, 1, 3, 7, 15, 31 s.
    const { api, worker, store, redis } = await env({ backoffMs: 1_000, attempts: 8 });
    const rx = await receiver('down');
    const id = await webhook(api, rx.url);
    const fields = alertFields({
      pool_id: 'team-a',
      agent_id: '',
      budget: 'monthly',
      period: '202612',
    });
    await appendToRedisOutbox(redis, fields, 5);
    const row = () => store.webhooks.delivery(fields.event_id as string, id);
    await until('a refused attempt', async () => ((await row())?.attempts ?? 0) >= 1);
    await sleep(12_000);
    await rx.mode('503');
    await sleep(18_000);
    await rx.mode('up');
    await until('delivered', () => rx.delivered().length === 1, 40_000);
    await until('recorded', async () => (await row())?.status === 'delivered');
    await sleep(1_500);

    expect(rx.delivered()).toHaveLength(1);
    expect(rx.requests.filter((r) => r.status === 503).length).toBeGreaterThanOrEqual(1);
    const got = rx.delivered()[0];
    expect(verify(got?.body as Buffer, String(got?.headers['tollgate-signature']), SECRET)).toBe(
      true,
    );
    expect(got?.headers['tollgate-event-id']).toBe(fields.event_id);
    expect(JSON.parse(got?.body.toString() ?? '')).toMatchObject({
      event_id: fields.event_id,
      agent_id: '',
      pool_id: 'team-a',
      budget: 'monthly',
      period: '202612',
      at: parseOutboxFields(fields).at,
    });
    for (const r of rx.requests) expect(r.body.equals(got?.body as Buffer)).toBe(true);
    const attempts = (await row())?.attempts ?? 0;
    expect(attempts).toBeGreaterThanOrEqual(5);
    expect(worker.alerts?.stats()).toMatchObject({ delivered: 1, failed: attempts - 1 });
    // BullMQ's keys carry the queue's hash tag (one Cluster slot).
    expect((await redis.keys(`${ALERTS_QUEUE_PREFIX}:*`)).length).toBeGreaterThan(0);
  });

  it('the same alert twice in the outbox, drained again, or stored before a crash: one delivery each', async () => {
    const { api, store, redis } = await env({ backoffMs: 200, attempts: 4 });
    const rx = await receiver('up');
    const id = await webhook(api, rx.url);

    const twice = alertFields();
    await appendToRedisOutbox(redis, twice, 1);
    await appendToRedisOutbox(redis, twice, 1);
    await until('delivered', () => rx.delivered().length === 1);
    // Drained again after it was delivered.
    await appendToRedisOutbox(redis, twice, 1);
    // Stored by a drain that then died (nothing queued, the entry not acknowledged), then drained again.
    const crashed = alertFields();
    await store.insertEvents([parseOutboxFields(crashed)]);
    await appendToRedisOutbox(redis, crashed, 2);
    await until('the second delivered', () => rx.delivered().length === 2);
    await until('outboxes drained', async () => (await redis.xlen('tg:{s1}:outbox')) === 0);
    await sleep(1_000);
    expect(rx.requests.map((r) => r.headers['tollgate-event-id'])).toEqual([
      twice.event_id,
      crashed.event_id,
    ]);
    for (const e of [twice, crashed]) {
      expect((await store.webhooks.delivery(e.event_id as string, id))?.status).toBe('delivered');
    }
  });

  it('a dead letter after the last attempt, over HTTP; the retry route re-sends it through the worker', async () => {
    const { api, worker, redis } = await env({ backoffMs: 100, attempts: 3 });
    const rx = await receiver('503');
    const id = await webhook(api, rx.url);
    const fields = alertFields();
    await appendToRedisOutbox(redis, fields, 7);
    const deliveryId = `${fields.event_id}.${id}`;
    const dead = async () =>
      (await api.call('GET', '/v1/webhooks/dead-letters')).body.dead_letters as {
        id: string;
        attempts: number;
        last_status: number;
      }[];
    await until('a dead letter', async () => (await dead()).length === 1);
    expect((await dead())[0]).toMatchObject({ id: deliveryId, attempts: 3, last_status: 503 });
    expect(rx.requests).toHaveLength(3);

    await rx.mode('up');
    const retry = await api.call('POST', `/v1/webhooks/dead-letters/${deliveryId}/retry`);
    expect(retry.status, retry.text).toBe(202);
    expect(retry.body.run).toBe(2);
    // The API process has no queue of its own here: the worker's look at the store queues it.
    expect(api.tg.alerts).toBeUndefined();
    await until('re-sent', () => rx.delivered().length === 1);
    await until('no dead letter', async () => (await dead()).length === 0);
    await sleep(500);
    expect(rx.requests).toHaveLength(4);
    expect(worker.alerts?.stats()).toMatchObject({ delivered: 1, failed: 2, deadLettered: 1 });
    const metrics = (await api.call('GET', '/metrics')).text;
    expect(metrics).toMatch(/tollgate_alert_deliveries_total\{outcome="dead_lettered"\} 1\n/);
    expect(metrics).toMatch(/tollgate_alert_deliveries_total\{outcome="delivered"\} 1\n/);
  });

  it('on a Redis Cluster: delivered once; the queue’s keys in one slot ({tg-alerts})', {
    timeout: 60_000,
  }, async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const store = await PostgresStore.open({
      databaseUrl: inject('databaseUrl'),
      schema: `t_${randomBytes(6).toString('hex')}`,
    });
    cleanups.push(() => store.close());
    const worker = await startAuditWorker({
      redis: { clusterNodes: cluster.nodes },
      store,
      ownsStore: false,
      everyMs: 50,
      sweepEveryMs: 0,
      log: quiet,
      alerts: { backoffMs: 200, attempts: 4, resumeEveryMs: 100, log: quiet },
    });
    cleanups.push(() => worker.close());
    const raw = new Cluster(cluster.nodes);
    cleanups.push(async () => raw.disconnect());
    const rx = await receiver('503');
    const id = `wh_${randomBytes(12).toString('hex')}`;
    await store.webhooks.addWebhook({
      webhookId: id,
      url: rx.url,
      secret: SECRET,
      events: ['budget_alert'],
      createdAt: Date.now(),
    });
    const fields = alertFields();
    await appendToRedisOutbox(raw, fields, 11);
    await until('a failed attempt', () => rx.requests.length >= 1);
    await rx.mode('up');
    await until('delivered', () => rx.delivered().length === 1);
    await sleep(1_000);
    expect(rx.delivered()).toHaveLength(1);
    const slot = await raw.cluster('KEYSLOT', ALERTS_QUEUE_PREFIX);
    const keys: string[] = [];
    for (const node of raw.nodes('master')) keys.push(...(await node.keys('*tg-alerts*')));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(k.startsWith(`${ALERTS_QUEUE_PREFIX}:tg-alerts:`)).toBe(true);
      expect(await raw.cluster('KEYSLOT', k)).toBe(slot);
    }
  });
});
