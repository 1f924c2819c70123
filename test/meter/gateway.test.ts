/**
 * The model gateway's own promises (docs/gateway.md), on every engine, with
 * the real `openai` and `@anthropic-ai/sdk` clients pointed at the app: who
 * may call (an agent by its own current key; not another agent's id, a forged
 * or rotated key, no key, the admin token), each refusal answered before the
 * upstream is called; the deployment's provider key forwarded, never the
 * agent's; the model list passed through, not metered; a stream passed on
 * chunk by chunk. Settles through the gateway: settle.test.ts and
 * faults.test.ts.
 */
import { randomBytes } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import {
  ADMIN,
  type Agent,
  describeWithRig,
  FIGURES,
  GPT_4O_COST,
  MESSAGES,
  PROVIDER_KEY,
  SONNET_COST,
  TEXT,
} from '../support/meter-harness.js';
import { type FetchCall, recordingFetch } from '../support/model-clients.js';
import { parse, value } from '../support/prom-text.js';

describeWithRig((rig) => {
  /** The gateway's SDKs for `agent`, sending `apiKey` and `headers`; `calls`: what they sent. */
  function gateway(agent: Agent, o: { apiKey?: string; headers?: Record<string, string> } = {}) {
    let calls: FetchCall[] = [];
    const clients = rig().clients('gateway', agent, {
      apiKey: o.apiKey,
      defaultHeaders: o.headers,
      wrap: (f) => {
        const r = recordingFetch(f);
        calls = r.calls;
        return r.fetch;
      },
    });
    return { ...clients, calls: () => calls };
  }

  const chat = (openai: OpenAI) =>
    openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 64 });
  const message = (anthropic: Anthropic) =>
    anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: MESSAGES });

  /** Nothing held, spent or recorded for the agent. */
  async function untouched(agent: Agent): Promise<void> {
    const s = await rig().status(agent.id);
    expect([s.dailyCostMicros, s.dailyReservedMicros, s.sessionTokensReserved]).toEqual([0, 0, 0]);
    expect(await rig().events(agent.id)).toEqual([]);
  }

  describe('refusals: answered once, the upstream never called', () => {
    it("another agent's id in x-tollgate-agent-id: 403 permission_error", async () => {
      const agent = await rig().register();
      const other = await rig().register();
      const gw = gateway(agent, { headers: { 'x-tollgate-agent-id': other.id } });
      const e = await chat(gw.openai).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(e).toMatchObject({ status: 403, error: { type: 'permission_error' } });
      expect(gw.calls()).toHaveLength(1);
      expect(rig().upstream.requests).toHaveLength(0);
      await untouched(agent);
      await untouched(other);
    });

    it("the agent's own id in x-tollgate-agent-id is accepted", async () => {
      const agent = await rig().register();
      const gw = gateway(agent, { headers: { 'x-tollgate-agent-id': agent.id } });
      expect((await chat(gw.openai)).choices[0]?.message.content).toBe(TEXT);
      expect(rig().upstream.calls()).toHaveLength(1);
      // The header is Tollgate's: not forwarded.
      expect(rig().upstream.requests[0]?.headers['x-tollgate-agent-id']).toBeUndefined();
    });

    it('a forged key (the right form, a random secret): 401, on both prefixes', async () => {
      const agent = await rig().register();
      const forged = `tg_${agent.id}.${randomBytes(32).toString('base64url')}`;
      expect(forged.split('.')[1]).toHaveLength(43);
      const gw = gateway(agent, { apiKey: forged });
      const o = await chat(gw.openai).catch((x: unknown) => x);
      expect(o).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(o).toMatchObject({ status: 401, error: { type: 'authentication_error' } });
      const a = await message(gw.anthropic).catch((x: unknown) => x);
      expect(a).toBeInstanceOf(Anthropic.AuthenticationError);
      expect(a).toMatchObject({
        status: 401,
        error: { type: 'error', error: { type: 'authentication_error' } },
      });
      expect(gw.calls()).toHaveLength(2);
      expect(rig().upstream.requests).toHaveLength(0);
      await untouched(agent);
    });

    it('a rotated (old) key: 401; the new key works', async () => {
      const agent = await rig().register();
      const rotated = await rig().tg.identity.rotateKey(agent.id);
      const e = await chat(gateway(agent).openai).catch((x: unknown) => x);
      expect(e).toMatchObject({ status: 401 });
      // The model list too: the key is checked before it is forwarded.
      const l = await gateway(agent)
        .openai.models.list()
        .catch((x: unknown) => x);
      expect(l).toMatchObject({ status: 401 });
      expect(rig().upstream.requests).toHaveLength(0);
      await untouched(agent);
      const fresh = { id: agent.id, key: rotated.api_key };
      expect((await chat(gateway(fresh).openai)).choices[0]?.message.content).toBe(TEXT);
    });

    it('the admin token: 401', async () => {
      const agent = await rig().register();
      const gw = gateway(agent, { apiKey: ADMIN });
      expect(await chat(gw.openai).catch((x: unknown) => x)).toMatchObject({ status: 401 });
      expect(await message(gw.anthropic).catch((x: unknown) => x)).toMatchObject({ status: 401 });
      expect(await gw.openai.models.list().catch((x: unknown) => x)).toMatchObject({ status: 401 });
      expect(gw.calls()).toHaveLength(3);
      expect(rig().upstream.requests).toHaveLength(0);
    });

    it('no key: 401 in the provider’s shape', async () => {
      for (const [path, headers] of [
        ['/openai/v1/chat/completions', {}],
        ['/anthropic/v1/messages', { 'anthropic-version': '2023-06-01' }],
      ] as const) {
        const r = await fetch(`${rig().base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ model: 'gpt-4o', max_tokens: 64, messages: MESSAGES }),
        });
        expect(r.status).toBe(401);
        const body = (await r.json()) as { type?: string; error: { type: string } };
        expect(body.error.type).toBe('authentication_error');
        expect(body.type).toBe(path.startsWith('/anthropic') ? 'error' : undefined);
      }
      expect(rig().upstream.requests).toHaveLength(0);
    });

    it('a model the role may not call: 403, the upstream never called', async () => {
      const agent = await rig().register({ role: 'tester' });
      const gw = gateway(agent);
      const e = await message(gw.anthropic).catch((x: unknown) => x);
      expect(e).toMatchObject({
        status: 403,
        error: { error: { type: 'permission_denied', decision: { model: 'claude-sonnet-4-5' } } },
      });
      expect(gw.calls()).toHaveLength(1);
      expect(rig().upstream.requests).toHaveLength(0);
    });
  });

  describe('what reaches the upstream', () => {
    it("the deployment's provider key, never the agent's (OpenAI and Anthropic)", async () => {
      const agent = await rig().register();
      const gw = gateway(agent);
      await chat(gw.openai);
      await message(gw.anthropic);
      const [o, a] = rig().upstream.calls();
      expect(o?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
      expect(o?.headers['x-api-key']).toBeUndefined();
      expect(a?.headers['x-api-key']).toBe(PROVIDER_KEY);
      expect(a?.headers.authorization).toBeUndefined();
      // The caller's other headers are forwarded: the SDK's API version.
      const sent = new Headers(gw.calls()[1]?.headers).get('anthropic-version');
      expect(sent).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(a?.headers['anthropic-version']).toBe(sent);
      for (const r of [o, a]) expect(JSON.stringify(r?.headers)).not.toContain(agent.key);
    });

    it('GET /openai/v1/models passes through, with the provider key, not metered', async () => {
      const agent = await rig().register();
      const list = await gateway(agent).openai.models.list();
      expect(list.data.map((m) => m.id)).toEqual(['gpt-4o', 'claude-sonnet-4-5']);
      const [r] = rig().upstream.calls('models');
      expect(r).toMatchObject({ method: 'GET', path: '/v1/models', status: 200 });
      expect(r?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
      await untouched(agent);
    });
  });

  describe('what the caller asks next sees the call', () => {
    // The JSON answer goes out once its settle is on its way to the store,
    // before the store's reply (src/meter/call.ts): the API's next read and
    // the next scrape must still count it.
    const spend = async () => {
      const r = await fetch(`${rig().base}/metrics`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      const usd = value(parse(await r.text()), 'tollgate_model_spend_usd_total', {
        model: 'gpt-4o',
      });
      return Math.round((usd ?? 0) * 1_000_000);
    };

    it('the status read and the scrape made as soon as the answer arrives', async () => {
      const agent = await rig().register();
      const gw = gateway(agent);
      for (let n = 1; n <= 5; n++) {
        const before = await spend();
        await chat(gw.openai);
        const [status, after] = await Promise.all([
          fetch(`${rig().base}/v1/agents/${agent.id}/budget`, {
            headers: { authorization: `Bearer ${agent.key}` },
          }).then(
            (r) => r.json() as Promise<{ daily: { cost_used: number; cost_reserved: number } }>,
          ),
          spend(),
        ]);
        expect(status.daily).toMatchObject({
          cost_used: (n * GPT_4O_COST) / 1_000_000,
          cost_reserved: 0,
        });
        expect(after - before).toBe(GPT_4O_COST);
      }
    });
  });

  describe('streams are passed on chunk by chunk', () => {
    it('chat: the first chunk reaches the caller while the upstream is held mid-stream', async () => {
      const agent = await rig().register();
      const held = rig().upstream.hold(2);
      const stream = await gateway(agent).openai.chat.completions.create({
        model: 'gpt-4o',
        messages: MESSAGES,
        max_tokens: 64,
        stream: true,
      });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done).toBe(false);
      const request = await held.reached;
      // The stand-in is still held: it has sent 2 events and not finished.
      expect(request.chunksSent).toBe(2);
      expect(request.ending).toBeUndefined();
      held.release();
      const rest: string[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) {
        rest.push(r.value.choices[0]?.delta.content ?? '');
      }
      expect((first.value.choices[0]?.delta.content ?? '') + rest.join('')).toBe(TEXT);
      const s = await rig().status(agent.id);
      expect([s.dailyCostMicros, s.dailyReservedMicros]).toEqual([GPT_4O_COST, 0]);
    });

    it('messages: the first events reach the caller while the upstream is held mid-stream', async () => {
      const agent = await rig().register();
      const held = rig().upstream.hold(3);
      const stream = await gateway(agent).anthropic.messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 64,
        messages: MESSAGES,
        stream: true,
      });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done === false && first.value.type).toBe('message_start');
      const request = await held.reached;
      expect(request.chunksSent).toBe(3);
      expect(request.ending).toBeUndefined();
      held.release();
      while (!(await it.next()).done) {
        // read on
      }
      const s = await rig().status(agent.id);
      expect(s.sessionTokensUsed).toBe(FIGURES.inputTokens + FIGURES.outputTokens);
      expect([s.dailyCostMicros, s.dailyReservedMicros]).toEqual([SONNET_COST, 0]);
    });
  });

  describe('an upstream that fails', () => {
    it('a JSON answer cut after its headers: 502 api_error (retryable), settled as an estimate', async () => {
      const agent = await rig().register();
      rig().upstream.cutAfterChunks(0);
      const gw = rig().clients('gateway', agent, { maxRetries: 0 });
      const e = await chat(gw.openai).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OpenAI.InternalServerError);
      expect(e).toMatchObject({ status: 502, error: { type: 'api_error' } });
      expect(rig().upstream.calls()).toHaveLength(1);
      const s = await rig().whenNothingHeld(agent.id);
      const settles = await rig().settles(agent.id);
      expect(settles).toHaveLength(1);
      expect(settles[0]?.estimated).toBe('1');
      expect(s.dailyCostMicros).toBeGreaterThan(0);
    });
  });
});
