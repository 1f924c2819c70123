import { connect } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp, startServer } from '../../src/api/index.js';
import type { Engine } from '../../src/engine/types.js';
import { createTollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
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

  it('answers 503 STORE_UNAVAILABLE within a bounded time while Redis is down, and recovers', async () => {
    redis = await startRedis();
    cleanups.push(() => redis.stop());
    // The engine's own client options (src/engine/connect.ts), plus an error
    // listener so that the outage does not print ioredis' "Unhandled error event".
    const client = new Redis(redis.url, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    const api = await startApi({ tollgate: { redis: client } });
    cleanups.push(async () => {
      await api.close();
      client.disconnect();
    });
    const { id, key } = await api.agent('coder');
    await redis.stop();
    for (const [method, path, body] of [
      ['POST', '/v1/authorize', { agent_id: id, operation: 'write_file' }],
      ['GET', `/v1/agents/${id}/budget`, undefined],
      ['GET', '/readyz', undefined],
    ] as const) {
      const t0 = Date.now();
      const r = await api.call(method, path, { token: key, body });
      expect(r.status, path).toBe(503);
      expect(isError(r, 'STORE_UNAVAILABLE')).toBe(true);
      expect(r.body.error.details).toEqual({});
      expect(Date.now() - t0).toBeLessThan(3000);
    }
    expect((await api.call('GET', '/healthz')).status).toBe(200);
    await redis.restart();
    const deadline = Date.now() + 10_000;
    let ready = 0;
    while (Date.now() < deadline) {
      ready = (await api.call('GET', '/readyz')).status;
      if (ready === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready).toBe(200);
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
