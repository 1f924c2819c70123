import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermissionDenied, TollgateApiError, TollgateClient } from '../../src/client/index.js';
import { ADMIN, type Api, startApi } from '../api/harness.js';
import { uid } from '../support/engines.js';

let api: Api;
let baseUrl: string;

beforeAll(async () => {
  api = await startApi();
  baseUrl = api.base;
});
afterAll(() => api.close());

describe('TollgateClient', () => {
  it("runs the guide's flow and its executor", async () => {
    const admin = new TollgateClient({ baseUrl, token: ADMIN });
    const id = uid('sdk');
    const rec = await admin.registerAgent({ agent_id: id, role: 'backend-dev' });
    const me = new TollgateClient({ baseUrl, token: rec.api_key });
    const out = await me.run(id, 'read_file', { estimatedTokens: 5000 }, async () => ({
      inputTokens: 4800,
      outputTokens: 15200,
      text: 'ok',
    }));
    expect(out.text).toBe('ok');
    const s = await me.getBudgetStatus(id);
    expect(s.session).toMatchObject({ tokens_used: 20000, tokens_reserved: 0 });
    await expect(
      me.run(id, 'read_file', { estimatedTokens: 2000 }, async () => {
        throw new Error('tool crashed');
      }),
    ).rejects.toThrow('tool crashed');
    expect((await me.getBudgetStatus(id)).session).toMatchObject({
      tokens_used: 22000,
      tokens_reserved: 0,
    });
    await expect(me.run(id, 'unauthorized_op', {}, async () => ({}))).rejects.toBeInstanceOf(
      PermissionDenied,
    );
    await expect(admin.getAgent(uid('nobody'))).rejects.toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
    await expect(me.listAgents()).rejects.toBeInstanceOf(TollgateApiError);
  });

  it('reuses its request_id when it retries, so a retried authorize holds once', async () => {
    const admin = new TollgateClient({ baseUrl, token: ADMIN });
    const id = uid('retry');
    await admin.registerAgent({ agent_id: id, role: 'coder' });
    // A proxy that drops the first answer (503) after the request reached the API.
    let calls = 0;
    const bodies: string[] = [];
    const proxy = (await import('node:http')).createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString();
      bodies.push(body);
      const upstream = await fetch(`${baseUrl}${req.url}`, {
        method: req.method,
        headers: {
          authorization: String(req.headers.authorization),
          'content-type': 'application/json',
        },
        body: body || undefined,
      });
      calls++;
      if (calls === 1) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { code: 'STORE_UNAVAILABLE', message: 'flaky', details: {} } }),
        );
        return;
      }
      res.writeHead(upstream.status, { 'content-type': 'application/json' });
      res.end(await upstream.text());
    });
    proxy.listen(0);
    await new Promise((r) => proxy.once('listening', r));
    try {
      const client = new TollgateClient({
        baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        token: ADMIN,
        backoffMs: 10,
      });
      const d = await client.authorize({
        agent_id: id,
        operation: 'read_file',
        estimated_tokens: 1234,
      });
      expect(d.allowed).toBe(true);
      expect(calls).toBe(2);
      const ids = bodies.map((b) => (JSON.parse(b) as { request_id: string }).request_id);
      expect(ids[0]).toBeDefined();
      expect(ids[1]).toBe(ids[0]);
      const s = await admin.getBudgetStatus(id);
      expect(s.session.tokens_reserved).toBe(1234);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });
});
