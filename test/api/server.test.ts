import { connect } from 'node:net';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp, startServer } from '../../src/api/index.js';
import type { Engine } from '../../src/engine/types.js';
import { createTollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { uid } from '../support/engines.js';
import { ADMIN, isError, startApi } from './harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('startServer', () => {
  it('shuts down gracefully on a signal: stops accepting, finishes in-flight, then closes the Tollgate', async () => {
    const tg = await createTollgate();
    let closed = 0;
    const tollgate = {
      ...tg,
      close: async () => {
        closed += 1;
      },
    };
    const outer = express();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started: () => void = () => undefined;
    const inFlight = new Promise<void>((r) => {
      started = r;
    });
    outer.get('/slow', async (_req, res) => {
      started();
      await gate;
      res.json({ done: true });
    });
    outer.use(createApp({ tollgate: tg, adminToken: ADMIN }));
    const shutdown = new Promise<unknown>((resolve) => {
      void startServer({
        app: outer,
        port: 0,
        host: '127.0.0.1',
        tollgate,
        signals: ['SIGUSR2'],
        onShutdown: resolve,
      }).then((s) => {
        running = s;
      });
    });
    let running: Awaited<ReturnType<typeof startServer>> | undefined;
    while (!running) await new Promise((r) => setTimeout(r, 5));
    const base = `http://127.0.0.1:${running.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    const slow = fetch(`${base}/slow`).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));
    await inFlight;
    process.emit('SIGUSR2', 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 50));
    // No longer accepting.
    await expect(fetch(`${base}/healthz`, { headers: { connection: 'close' } })).rejects.toThrow();
    expect(closed).toBe(0);
    release();
    expect(await slow).toEqual({ status: 200, body: { done: true } });
    expect(await shutdown).toBeUndefined();
    expect(closed).toBe(1);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
    await running.close(); // idempotent
    expect(closed).toBe(1);
    await tg.close();
  });

  it('answers bytes that are not HTTP with the error envelope', async () => {
    const tg = await createTollgate();
    const s = await startServer({
      app: createApp({ tollgate: tg, adminToken: ADMIN }),
      port: 0,
      host: '127.0.0.1',
      tollgate: tg,
      signals: [],
    });
    cleanups.push(() => s.close());
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(s.port, '127.0.0.1', () => sock.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      sock.on('data', (d) => {
        data += d.toString();
      });
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error.code).toBe(
      'VALIDATION_FAILED',
    );
  });
});

describe('fail closed', () => {
  let redis: RedisServer;

  it('Redis stopped mid-run: every request 503 in < 1 s while it is down, correct answers ≤ 5 s after its return, the server never restarted', async () => {
    redis = await startRedis();
    cleanups.push(() => redis.stop());
    // The library's own client (src/engine/connect.ts: no offline queue, an
    // 800 ms command timeout, reconnection in the background).
    const api = await startApi({ tollgate: { redis: redis.url } });
    cleanups.push(() => api.close());
    const { base, tg } = api;
    const serverPid = process.pid;

    const { id, key } = await api.agent('coder');
    const held = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 100 },
    });
    expect(held.body.allowed).toBe(true);

    // ── Redis goes away ──
    await redis.stop();
    const probes: [string, string, { token?: string | null; body?: unknown }][] = [
      ['POST', '/v1/authorize', { token: key, body: { agent_id: id, operation: 'write_file' } }],
      ['GET', `/v1/agents/${id}/budget`, { token: key }],
      ['GET', `/v1/agents/${id}`, {}],
      ['POST', '/v1/agents', { body: { agent_id: uid('down'), role: 'coder' } }],
      [
        'POST',
        '/v1/settle',
        {
          token: key,
          body: {
            reservation_id: held.body.reservation_id,
            input_tokens: 1,
            output_tokens: 1,
            result: 'success',
          },
        },
      ],
      ['POST', '/v1/usage', { body: { agent_id: id, input_tokens: 1, output_tokens: 1 } }],
      ['GET', '/v1/agents', {}],
      ['GET', '/readyz', { token: null }],
    ];
    const outage: { what: string; status: number; code: unknown; details: unknown; ms: number }[] =
      [];
    const OUTAGE_MS = 2_500;
    const outageEnds = Date.now() + OUTAGE_MS;
    for (let i = 0; Date.now() < outageEnds || i < probes.length; i++) {
      const [method, path, opts] = probes[i % probes.length] as (typeof probes)[number];
      const t0 = performance.now();
      const r = await api.call(method, path, opts);
      outage.push({
        what: `${method} ${path}`,
        status: r.status,
        code: r.body?.error?.code,
        details: r.body?.error?.details,
        ms: performance.now() - t0,
      });
      await new Promise((res) => setTimeout(res, 10));
    }
    // The process itself is up all along.
    expect((await api.call('GET', '/healthz', { token: null })).status).toBe(200);
    expect(outage.length).toBeGreaterThanOrEqual(probes.length);
    for (const o of outage) {
      expect(o, o.what).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', details: {} });
      expect(o.ms, o.what).toBeLessThan(1_000);
    }
    const slowest = Math.max(...outage.map((o) => o.ms));
    expect(slowest).toBeLessThan(1_000);

    // ── Redis comes back (empty: the test server keeps no data) ──
    await redis.restart();
    const back = performance.now();
    let firstCorrectMs: number | undefined;
    let last = '';
    while (performance.now() - back < 10_000) {
      // A correct answer needs the store: registering a new agent writes to it.
      const r = await api.call('POST', '/v1/agents', {
        body: { agent_id: uid('back'), role: 'coder' },
      });
      if (r.status === 201) {
        firstCorrectMs = performance.now() - back;
        break;
      }
      last = `${r.status} ${r.text}`;
      expect(isError(r, 'STORE_UNAVAILABLE'), last).toBe(true);
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(
      firstCorrectMs,
      `no correct answer within 10 s of the restart (last: ${last})`,
    ).toBeDefined();
    expect(firstCorrectMs as number).toBeLessThanOrEqual(5_000);

    // Everything answers correctly again: a full authorize → settle, readiness.
    const again = await api.agent('coder');
    const d = await api.call('POST', '/v1/authorize', {
      token: again.key,
      body: { agent_id: again.id, operation: 'write_file', estimated_tokens: 100 },
    });
    expect(d.status).toBe(200);
    expect(d.body.allowed).toBe(true);
    const s = await api.call('POST', '/v1/settle', {
      token: again.key,
      body: {
        reservation_id: d.body.reservation_id,
        input_tokens: 10,
        output_tokens: 10,
        result: 'success',
      },
    });
    expect(s.status).toBe(200);
    expect(s.body.outcome).toBe('settled');
    expect((await api.call('GET', '/readyz', { token: null })).status).toBe(200);

    // The same server, Tollgate and process answered before, during and after.
    expect(api.base).toBe(base);
    expect(api.tg).toBe(tg);
    expect(process.pid).toBe(serverPid);
    console.info(
      `fail closed: ${outage.length} requests during a ${OUTAGE_MS} ms outage, slowest 503 ${slowest.toFixed(0)} ms; first correct answer ${(firstCorrectMs as number).toFixed(0)} ms after Redis returned`,
    );
  });

  it('a request the engine does not answer gets 503 after requestTimeoutMs', async () => {
    const tg = await createTollgate();
    const hanging: Engine = new Proxy(tg.engine, {
      get(target, prop, receiver) {
        if (prop === 'status') return () => new Promise(() => undefined);
        return Reflect.get(target, prop, receiver);
      },
    });
    const api = await startApi({
      tollgate: { engine: hanging },
      app: { requestTimeoutMs: 200, readyTimeoutMs: 200 },
    });
    cleanups.push(() => api.close());
    const t0 = Date.now();
    const r = await api.call('GET', '/v1/agents/anyone/budget');
    expect(r.status).toBe(503);
    expect(isError(r, 'STORE_UNAVAILABLE')).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await api.call('GET', '/readyz')).status).toBe(503);
  });
});
