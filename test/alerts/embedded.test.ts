/**
 * Budget alerts to webhooks in embedded mode (MemoryEngine, the in-process
 * drain into PGlite, the in-process delivery queue), driven over HTTP: a
 * receiver down then failing then up gets the alert once, signed (checked by
 * docs/operations.md's snippet); an event drained twice is sent once; a
 * delivery that fails every attempt is a dead letter, listed and re-sent over
 * HTTP; a pending delivery survives a restart; redirects.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AlertOptions } from '../../src/alerts/index.js';
import { parseOutboxFields } from '../../src/audit/event.js';
import type { WebhookStore } from '../../src/audit/store/index.js';
import { PostgresStore } from '../../src/audit/store/postgres.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type Api, startApi } from '../api/harness.js';
import {
  alertFields,
  appendToMemoryOutbox,
  documentedVerify,
  type Received,
  type Receiver,
  sleep,
  startReceiver,
  until,
} from './helpers.js';

const SECRET = 'embedded-secret-0123456789';
/** Short retries: 200 ms, then 400, 800, 1 600, 3 200 (6 attempts over 6.2 s). */
const FAST: AlertOptions = {
  backoffMs: 200,
  attempts: 6,
  timeoutMs: 2_000,
  resumeEveryMs: 50,
  log: () => undefined,
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/**
 * One API on PGlite for the file (opening PGlite costs seconds of CPU): each
 * test registers its webhooks and deletes them when it ends, so that its
 * alerts reach only its own receivers.
 */
let a: Api;
let pgDir: string;
beforeAll(async () => {
  pgDir = mkdtempSync(join(tmpdir(), 'tg-alerts-pglite-'));
  a = await startApi({
    tollgate: {
      engine: new MemoryEngine(),
      store: { dataDir: pgDir },
      drain: { intervalMs: 20 },
      alerts: FAST,
    },
  });
});
afterAll(async () => {
  await a?.close();
  rmSync(pgDir, { recursive: true, force: true });
});

async function receiver(mode: Parameters<typeof startReceiver>[0] = 'up'): Promise<Receiver> {
  const r = await startReceiver(mode);
  cleanups.push(() => r.close());
  return r;
}

async function webhook(url: string): Promise<string> {
  const res = await a.call('POST', '/v1/webhooks', {
    body: { url, secret: SECRET, events: ['budget_alert'] },
  });
  expect(res.status, res.text).toBe(201);
  const id = res.body.id as string;
  cleanups.push(() => a.call('DELETE', `/v1/webhooks/${id}`));
  return id;
}

const webhooks = (tg: Tollgate): WebhookStore => tg.store?.webhooks as WebhookStore;
const engine = () => a.tg.engine as MemoryEngine;

/** tollgate_alert_deliveries_total by outcome, from GET /metrics. */
async function deliveries(): Promise<Record<string, number>> {
  const text = (await a.call('GET', '/metrics')).text;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^tollgate_alert_deliveries_total\{outcome="(\w+)"\} (\d+)$/gm)) {
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

describe('budget alerts, embedded mode', () => {
  it('a receiver refusing, then answering 503, then up: delivered once, signed, the secret never shown', async () => {
    const verify = await documentedVerify();
    const before = await deliveries();
    const rx = await receiver('down');
    const id = await webhook(rx.url);
    expect(id).toMatch(/^wh_[0-9a-f]{24}$/);
    const listed = await a.call('GET', '/v1/webhooks');
    expect(listed.body).toEqual({
      webhooks: [
        { id, url: rx.url, events: ['budget_alert'], created_at: expect.any(String) as string },
      ],
    });
    expect(listed.text).not.toContain(SECRET);

    const fields = alertFields();
    appendToMemoryOutbox(engine(), fields);
    const row = () => webhooks(a.tg).delivery(fields.event_id as string, id);
    // Refused twice, then 503, then up.
    await until('two refused attempts', async () => ((await row())?.attempts ?? 0) >= 2);
    expect((await row())?.status).toBe('pending');
    await rx.mode('503');
    await until('a 503', () => rx.requests.length >= 1);
    await rx.mode('up');
    await until('delivered', () => rx.delivered().length === 1);
    await until('recorded', async () => (await row())?.status === 'delivered');
    await sleep(1_000); // several backoff periods: nothing more comes
    expect(rx.delivered()).toHaveLength(1);

    const got = rx.delivered()[0] as Received;
    const event = parseOutboxFields(fields);
    expect(JSON.parse(got.body.toString())).toEqual({
      v: 1,
      event_id: fields.event_id,
      type: 'budget_alert',
      at: event.at,
      agent_id: fields.agent_id,
      pool_id: '',
      budget: 'daily',
      threshold_pct: 80,
      period: '20261207',
      used: 800_000,
      limit: 1_000_000,
    });
    expect(got.headers['tollgate-event-id']).toBe(fields.event_id);
    expect(got.headers['content-type']).toBe('application/json');
    const signature = String(got.headers['tollgate-signature']);
    expect(verify(got.body, signature, SECRET)).toBe(true);
    expect(verify(got.body, signature, 'x'.repeat(16))).toBe(false);
    // Every attempt that reached it carried the same body and event id.
    for (const r of rx.requests) {
      expect(r.body.equals(got.body)).toBe(true);
      expect(r.headers['tollgate-event-id']).toBe(fields.event_id);
    }
    // The ledger shows the event with its crossing; no dead letter; the attempts counted.
    const audit = await a.call('GET', `/v1/audit?type=budget_alert&agent_id=${fields.agent_id}`);
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0].alert).toEqual({
      pool_id: '',
      budget: 'daily',
      threshold_pct: 80,
      period: '20261207',
      used: 800_000,
      limit: 1_000_000,
    });
    expect((await a.call('GET', '/v1/webhooks/dead-letters')).body).toEqual({ dead_letters: [] });
    const attempts = (await row())?.attempts ?? 0;
    expect(attempts).toBeGreaterThanOrEqual(4);
    const after = await deliveries();
    expect((after.delivered ?? 0) - (before.delivered ?? 0)).toBe(1);
    expect((after.failed ?? 0) - (before.failed ?? 0)).toBe(attempts - 1);
  });

  it('the same alert drained twice (two outbox entries, a drain over it again, a batch stored before a crash): one delivery', async () => {
    const rx = await receiver('up');
    const id = await webhook(rx.url);

    // Twice in the outbox before the drain runs.
    const twice = alertFields();
    appendToMemoryOutbox(engine(), twice);
    appendToMemoryOutbox(engine(), twice, 3);
    await until('delivered', () => rx.delivered().length === 1);

    // The drain over it again, after it was delivered.
    const drained = a.tg.drain?.stats().drained ?? 0;
    appendToMemoryOutbox(engine(), twice);
    await a.tg.drain?.flush();
    expect(a.tg.drain?.stats().drained).toBeGreaterThan(drained);

    // A batch stored before a crash (no delivery queued, the entry not acknowledged), drained again.
    const crashed = alertFields();
    await a.tg.store?.insertEvents([parseOutboxFields(crashed)]);
    appendToMemoryOutbox(engine(), crashed);
    await until('the second delivered', () => rx.delivered().length === 2);
    await a.tg.drain?.flush();
    await sleep(1_000);
    expect(rx.delivered().map((r) => r.headers['tollgate-event-id'])).toEqual([
      twice.event_id,
      crashed.event_id,
    ]);
    expect(rx.requests).toHaveLength(2);
    for (const e of [twice, crashed]) {
      expect((await webhooks(a.tg).delivery(e.event_id as string, id))?.status).toBe('delivered');
    }
  });

  it('no attempt left: a dead letter, listed over HTTP, re-sent by the retry route once', async () => {
    const before = await deliveries();
    const rx = await receiver('503');
    const id = await webhook(rx.url);
    const fields = alertFields({
      budget: 'session',
      threshold_pct: '100',
      period: 's-1.0123456789abcdef',
      used: '50000',
      limit: '50000',
    });
    appendToMemoryOutbox(engine(), fields);
    const deliveryId = `${fields.event_id}.${id}`;
    const mine = async () =>
      (
        (await a.call('GET', '/v1/webhooks/dead-letters')).body.dead_letters as { id: string }[]
      ).filter((d) => d.id === deliveryId);
    await until('a dead letter', async () => (await mine()).length === 1);
    expect((await mine())[0]).toEqual({
      id: deliveryId,
      webhook_id: id,
      event: JSON.parse(rx.requests[0]?.body.toString() ?? ''),
      run: 1,
      attempts: 6,
      last_status: 503,
      last_error: 'HTTP 503 Service Unavailable',
      failed_at: expect.any(String) as string,
    });
    await sleep(500);
    expect(rx.requests).toHaveLength(6);

    // Not found, malformed, then the real one: re-sent once the receiver is up.
    const other = `${fields.event_id}.wh_${'0'.repeat(24)}`;
    expect((await a.call('POST', `/v1/webhooks/dead-letters/${other}/retry`)).status).toBe(404);
    expect((await a.call('POST', '/v1/webhooks/dead-letters/nope/retry')).status).toBe(400);
    await rx.mode('up');
    const retry = await a.call('POST', `/v1/webhooks/dead-letters/${deliveryId}/retry`);
    expect(retry.status, retry.text).toBe(202);
    expect(retry.body).toEqual({ id: deliveryId, status: 'pending', run: 2 });
    await until('re-sent', () => rx.delivered().length === 1);
    const row = () => webhooks(a.tg).delivery(fields.event_id as string, id);
    await until('recorded', async () => (await row())?.status === 'delivered');
    expect(await mine()).toEqual([]);
    const again = await a.call('POST', `/v1/webhooks/dead-letters/${deliveryId}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.error.details).toEqual({ reason: 'not_dead', status: 'delivered' });
    await sleep(500);
    expect(rx.requests).toHaveLength(7);
    const after = await deliveries();
    expect((after.dead_lettered ?? 0) - (before.dead_lettered ?? 0)).toBe(1);
    expect((after.failed ?? 0) - (before.failed ?? 0)).toBe(5);
    expect((after.delivered ?? 0) - (before.delivered ?? 0)).toBe(1);
  });

  it('fan-out per webhook; a deleted webhook gets nothing; redirects only to the same origin', async () => {
    const one = await receiver('up');
    const gone = await receiver('up');
    const hop = await receiver('redirect');
    const away = await receiver('redirect');
    await hop.mode('redirect', '/moved'); // same origin: followed
    await away.mode('redirect', one.url); // another port: not followed
    await webhook(one.url);
    const goneId = await webhook(gone.url);
    await webhook(hop.url);
    const awayId = await webhook(away.url);
    const del = await a.call('DELETE', `/v1/webhooks/${goneId}`);
    expect(del.body).toEqual({ id: goneId, deleted: true });
    expect((await a.call('DELETE', `/v1/webhooks/${goneId}`)).status).toBe(404);

    const fields = alertFields();
    appendToMemoryOutbox(engine(), fields);
    const deliveryId = `${fields.event_id}.${awayId}`;
    const mine = async () =>
      (
        (await a.call('GET', '/v1/webhooks/dead-letters')).body.dead_letters as { id: string }[]
      ).filter((d) => d.id === deliveryId);
    await until(
      'a dead letter for the cross-origin redirect',
      async () => (await mine()).length === 1,
    );
    await until('delivered', () => one.delivered().length === 1 && hop.delivered().length === 1);
    const d = (await mine())[0] as unknown as { last_status: number; last_error: string };
    expect(d.last_status).toBe(307);
    expect(d.last_error).toMatch(/redirect to another origin, not followed/);
    expect(hop.delivered()[0]?.path).toBe('/moved');
    expect(gone.requests).toHaveLength(0);
    expect(one.requests).toHaveLength(1); // the cross-origin redirect never reached it
  });
});

describe('budget alerts, embedded mode, a restart', () => {
  it('a delivery pending when the process stops is sent once after the restart', async () => {
    // The store on PostgreSQL here (a schema of the run's database): the same code, opened twice at no cost.
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const open = () => PostgresStore.open({ databaseUrl: inject('databaseUrl'), schema });
    const rx = await receiver('down');
    const store1 = await open();
    cleanups.push(() => store1.close());
    const first = await createTollgate({
      engine: new MemoryEngine(),
      store: store1,
      drain: { intervalMs: 20 },
      alerts: { ...FAST, backoffMs: 60_000 },
    });
    const id = `wh_${randomBytes(12).toString('hex')}`;
    await store1.webhooks.addWebhook({
      webhookId: id,
      url: rx.url,
      secret: SECRET,
      events: ['budget_alert'],
      createdAt: Date.now(),
    });
    const fields = alertFields();
    appendToMemoryOutbox(first.engine as MemoryEngine, fields);
    const row = () => store1.webhooks.delivery(fields.event_id as string, id);
    await until('one refused attempt', async () => ((await row())?.attempts ?? 0) >= 1);
    await first.close(); // its queue (and the retry waiting in it) is gone
    await rx.mode('up');

    const store2 = await open();
    cleanups.push(() => store2.close());
    const second = await createTollgate({
      engine: new MemoryEngine(),
      store: store2,
      alerts: FAST,
    });
    cleanups.push(() => second.close());
    await until('delivered after the restart', () => rx.delivered().length === 1);
    await sleep(1_000);
    expect(rx.requests).toHaveLength(1);
    expect(second.alerts?.stats()).toMatchObject({ delivered: 1, failed: 0 });
    expect((await store2.webhooks.delivery(fields.event_id as string, id))?.attempts).toBe(2);
  });
});
