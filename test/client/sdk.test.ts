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
    const proxy = await lossyProxy(ADMIN);
    try {
      proxy.drop.add('POST /v1/authorize');
      const d = await proxy.client.authorize({
        agent_id: id,
        operation: 'read_file',
        estimated_tokens: 1234,
      });
      expect(d.allowed).toBe(true);
      expect(d).toMatchObject({ replayed: true, reservation_state: 'open' });
      expect(proxy.calls).toBe(2);
      const ids = proxy.bodies.map((b) => (JSON.parse(b) as { request_id: string }).request_id);
      expect(ids[0]).toBeDefined();
      expect(ids[1]).toBe(ids[0]);
      const s = await admin.getBudgetStatus(id);
      expect(s.session.tokens_reserved).toBe(1234);
    } finally {
      await proxy.close();
    }
  });

  it('registerAgent makes the key, so a retried registration answers the agent it created', async () => {
    const proxy = await lossyProxy(ADMIN);
    try {
      const id = uid('reg');
      proxy.drop.add('POST /v1/agents');
      const rec = await proxy.client.registerAgent({ agent_id: id, role: 'coder' });
      expect(proxy.calls).toBe(2);
      const keys = proxy.bodies.map((b) => (JSON.parse(b) as { api_key: string }).api_key);
      expect(keys[0]).toMatch(new RegExp(`^tg_${id}\\.[A-Za-z0-9_-]{43}$`));
      expect(keys[1]).toBe(keys[0]);
      expect(rec).toMatchObject({ agent_id: id, api_key: keys[0] });
      const me = new TollgateClient({ baseUrl, token: rec.api_key });
      expect((await me.getAgent(id)).agent_id).toBe(id);
      const registered = (await api.tg.engine.readOutbox()).filter(
        (e) => e.fields.agent_id === id && e.fields.type === 'agent_registered',
      );
      expect(registered).toHaveLength(1);
      // A registration with another key for the same id is still refused.
      await expect(
        new TollgateClient({ baseUrl, token: ADMIN }).registerAgent({
          agent_id: id,
          role: 'coder',
        }),
      ).rejects.toMatchObject({ status: 409, code: 'CONFLICT' });
    } finally {
      await proxy.close();
    }
  });

  it('startSession, endSession and recordUsage are retried and count once', async () => {
    const admin = new TollgateClient({ baseUrl, token: ADMIN });
    const id = uid('ses');
    const { api_key: key } = await admin.registerAgent({ agent_id: id, role: 'coder' });
    const proxy = await lossyProxy(key);
    try {
      proxy.drop.add('POST /v1/agents/:id/sessions');
      const s = await proxy.client.startSession(id);
      expect(proxy.calls).toBe(2);
      const sids = proxy.bodies.map((b) => (JSON.parse(b) as { session_id: string }).session_id);
      expect(sids[0]).toMatch(new RegExp(`^${id}\\.[0-9a-f]{16}$`));
      expect(sids[1]).toBe(sids[0]);
      expect(s.session_id).toBe(sids[0]);

      proxy.drop.add('POST /v1/usage');
      const u = await proxy.client.recordUsage({
        agent_id: id,
        input_tokens: 300,
        output_tokens: 200,
      });
      expect(u).toMatchObject({ replayed: true });
      expect(u.cost).toBeGreaterThan(0);
      expect(u.budget_status.session.tokens_used).toBe(500);
      const uids = proxy.bodies.slice(-2).map((b) => JSON.parse(b).usage_id as string);
      expect(uids[1]).toBe(uids[0]);

      const d = await proxy.client.authorize({
        agent_id: id,
        operation: 'write_file',
        estimated_tokens: 100,
      });
      if (!d.allowed) throw new Error('expected an allowed decision');
      proxy.drop.add('POST /v1/settle');
      const settled = await proxy.client.settle({
        reservation_id: d.reservation_id,
        input_tokens: 100,
        output_tokens: 50,
        result: 'success',
      });
      expect(settled).toMatchObject({ outcome: 'already_closed', overrun_tokens: 50 });
      expect(settled.cost).toBeGreaterThan(0);
      expect(settled.budget_status.session.tokens_used).toBe(650);

      proxy.drop.add('DELETE /v1/agents/:id/sessions/:sid');
      const summary = await proxy.client.endSession(id, s.session_id);
      expect(summary).toMatchObject({ session_id: s.session_id, tokens_used: 650 });
      expect(summary.next_session_id).not.toBe(s.session_id);
      const now = await proxy.client.getBudgetStatus(id);
      expect(now.session).toMatchObject({ session_id: summary.next_session_id, tokens_used: 0 });
    } finally {
      await proxy.close();
    }
  });
});

/**
 * A proxy in front of the API that, for each route named in `drop` (`METHOD
 * /path/pattern`, once each), forwards the request and then answers 503 as
 * if the answer were lost: the write happened, the caller does not know.
 */
async function lossyProxy(token: string) {
  const drop = new Set<string>();
  const bodies: string[] = [];
  const state = { calls: 0 };
  const routeOf = (method: string, url: string) =>
    `${method} ${url
      .replace(/^\/v1\/agents\/[^/]+\/sessions\/[^/]+$/, '/v1/agents/:id/sessions/:sid')
      .replace(/^\/v1\/agents\/[^/]+\/sessions$/, '/v1/agents/:id/sessions')}`;
  const server = (await import('node:http')).createServer(async (req, res) => {
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
    const text = await upstream.text();
    state.calls++;
    const route = routeOf(String(req.method), String(req.url));
    if (drop.delete(route)) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { code: 'STORE_UNAVAILABLE', message: 'flaky', details: {} } }),
      );
      return;
    }
    res.writeHead(upstream.status, { 'content-type': 'application/json' });
    res.end(text);
  });
  server.listen(0);
  await new Promise((r) => server.once('listening', r));
  const client = new TollgateClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    backoffMs: 10,
  });
  return {
    client,
    drop,
    bodies,
    get calls() {
      return state.calls;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}
