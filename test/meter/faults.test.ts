/**
 * Issue 19's metered calls when things go wrong, on every engine, through
 * `tg.fetch`, `client.fetch` and the gateway: a stream left early, cut by the
 * upstream or aborted is settled as an estimate (the hold's cost, `estimated`
 * in its event) with nothing left held; an upstream 500 the SDK retries is
 * charged once; a denial is one provider-shaped 402 or 403 that the SDK does
 * not retry and the upstream never sees; a call that is not a model call is
 * not metered; 32 concurrent streams near the limit never go over it.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import {
  type Agent,
  collect,
  describeWithRig,
  FIGURES,
  GPT_4O_COST,
  MESSAGES,
  ROUTES,
} from '../support/meter-harness.js';
import { type FetchCall, recordingFetch } from '../support/model-clients.js';

/** Both SDKs retry at once on this header. */
const NOW = { 'retry-after-ms': '1' };

const chatStream = (openai: OpenAI, signal?: AbortSignal) =>
  openai.chat.completions.create(
    { model: 'gpt-4o', messages: MESSAGES, max_tokens: 512, stream: true },
    { signal },
  );

/** Reads an iterator to its end. */
async function drain(it: AsyncIterator<unknown>): Promise<void> {
  while (!(await it.next()).done) {
    // read on
  }
}

describeWithRig((rig) => {
  /** One call, settled as an estimate: its hold's cost, nothing left held. */
  async function expectEstimated(agent: Agent): Promise<void> {
    const s = await rig().whenNothingHeld(agent.id);
    const events = await rig().events(agent.id);
    const decisions = events.filter((e) => e.type === 'decision');
    const settles = events.filter((e) => e.type === 'settle');
    expect(decisions).toHaveLength(1);
    expect(settles).toHaveLength(1);
    expect(settles[0]).toMatchObject({ model: 'gpt-4o', estimated: '1' });
    // The hold was charged: its cost, and no usage the caller did not see.
    expect(settles[0]?.cost).toBe(decisions[0]?.cost);
    expect(s.dailyCostMicros).toBe(Number(decisions[0]?.cost));
    expect(s.dailyCostMicros).toBeGreaterThan(0);
    expect(s.sessionTokensUsed).not.toBe(FIGURES.inputTokens + FIGURES.outputTokens);
  }

  describe.each(ROUTES)('through %s', (route) => {
    describe('a stream not read to its usage: settled as an estimate', () => {
      it('the caller breaks out after the first chunk', async () => {
        const agent = await rig().register();
        const held = rig().upstream.hold(2);
        const stream = await chatStream(rig().clients(route, agent).openai);
        let seen = 0;
        for await (const _ of stream) {
          seen++;
          break;
        }
        expect(seen).toBe(1);
        // The upstream never sent the usage: it is still held where it stopped.
        expect((await held.reached).chunksSent).toBe(2);
        await expectEstimated(agent);
      });

      it('the upstream cuts the stream (cutAfterChunks)', async () => {
        const agent = await rig().register();
        rig().upstream.cutAfterChunks(2);
        const stream = await chatStream(rig().clients(route, agent).openai);
        await expect(collect(stream)).rejects.toThrow();
        expect(rig().upstream.calls()[0]?.ending).toBe('cut');
        await expectEstimated(agent);
      });

      it('the upstream cuts a held stream (hold().cut())', async () => {
        const agent = await rig().register();
        const held = rig().upstream.hold(3);
        const stream = await chatStream(rig().clients(route, agent).openai);
        const it = stream[Symbol.asyncIterator]();
        expect((await it.next()).done).toBe(false);
        await held.reached;
        held.cut();
        await expect(drain(it)).rejects.toThrow();
        await expectEstimated(agent);
      });

      it('the caller aborts (AbortController) and reads on: the SDK ends the stream quietly', async () => {
        const agent = await rig().register();
        const held = rig().upstream.hold(2);
        const ac = new AbortController();
        const stream = await chatStream(rig().clients(route, agent).openai, ac.signal);
        const it = stream[Symbol.asyncIterator]();
        expect((await it.next()).done).toBe(false);
        await held.reached;
        ac.abort();
        await drain(it);
        expect(await rig().upstream.calls()[0]?.ended).toBe('client-closed');
        await expectEstimated(agent);
      });

      it('the caller aborts (stream.controller.abort()) and reads on', async () => {
        const agent = await rig().register();
        const held = rig().upstream.hold(2);
        const stream = await chatStream(rig().clients(route, agent).openai);
        const it = stream[Symbol.asyncIterator]();
        expect((await it.next()).done).toBe(false);
        await held.reached;
        stream.controller.abort();
        await drain(it);
        expect(await rig().upstream.calls()[0]?.ended).toBe('client-closed');
        await expectEstimated(agent);
      });

      it('the caller aborts and never reads the stream again', async () => {
        const agent = await rig().register();
        const held = rig().upstream.hold(2);
        const ac = new AbortController();
        const stream = await chatStream(rig().clients(route, agent).openai, ac.signal);
        const it = stream[Symbol.asyncIterator]();
        expect((await it.next()).done).toBe(false);
        await held.reached;
        ac.abort();
        // The upstream request is gone; nothing of the stream is read after the abort.
        expect(await rig().upstream.calls()[0]?.ended).toBe('client-closed');
        await expectEstimated(agent);
      });
    });

    it('an upstream 500, then 200 (the SDK retries): charged once, the failed hold released', async () => {
      const agent = await rig().register();
      rig().upstream.failNext(1, 500, { headers: NOW });
      const c = await rig()
        .clients(route, agent)
        .openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 512 });
      expect(c.usage?.prompt_tokens).toBe(FIGURES.inputTokens);
      expect(rig().upstream.requests.map((r) => r.status)).toEqual([500, 200]);
      const s = await rig().status(agent.id);
      expect(s).toMatchObject({
        sessionTokensUsed: FIGURES.inputTokens + FIGURES.outputTokens,
        sessionTokensReserved: 0,
        dailyCostMicros: GPT_4O_COST,
        dailyReservedMicros: 0,
      });
      const events = await rig().events(agent.id);
      expect(events.map((e) => e.type)).toEqual(['decision', 'release', 'decision', 'settle']);
      expect(events[3]).toMatchObject({ cost: String(GPT_4O_COST), estimated: '0' });
    });

    describe('denials: one answer, not retried, the upstream never called', () => {
      /** Calls with a recording fetch; returns the SDK's error and the calls the SDK made. */
      async function refused(
        agent: Agent,
        call: (c: { openai: OpenAI; anthropic: Anthropic }) => Promise<unknown>,
      ) {
        let calls: FetchCall[] = [];
        const clients = rig().clients(route, agent, {
          wrap: (f) => {
            const r = recordingFetch(f);
            calls = r.calls;
            return r.fetch;
          },
        });
        const error = await call(clients).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(rig().upstream.requests).toHaveLength(0);
        expect(calls).toHaveLength(1);
        const s = await rig().status(agent.id);
        expect([s.dailyCostMicros, s.dailyReservedMicros, s.sessionTokensReserved]).toEqual([
          0, 0, 0,
        ]);
        return error;
      }

      it('over budget (chat): 402 budget_exceeded, the decision inside', async () => {
        const agent = await rig().register({ dailyCostLimit: 0.001 });
        const e = await refused(agent, ({ openai }) =>
          openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 512 }),
        );
        expect(e).toBeInstanceOf(OpenAI.APIError);
        const err = e as InstanceType<typeof OpenAI.APIError>;
        expect(err.status).toBe(402);
        expect(err.headers?.get('x-should-retry')).toBe('false');
        expect(err.error).toMatchObject({
          type: 'budget_exceeded',
          code: 'BUDGET_EXCEEDED',
          decision: {
            allowed: false,
            error_code: 'BUDGET_EXCEEDED',
            model: 'gpt-4o',
            budget_status: { agent_id: agent.id },
          },
        });
      });

      it('over budget (streamed messages): 402 budget_exceeded in Anthropic’s shape', async () => {
        const agent = await rig().register({ dailyCostLimit: 0.001 });
        const e = await refused(agent, ({ anthropic }) =>
          anthropic.messages.create({
            model: 'claude-sonnet-4-5',
            max_tokens: 512,
            messages: MESSAGES,
            stream: true,
          }),
        );
        expect(e).toBeInstanceOf(Anthropic.APIError);
        const err = e as InstanceType<typeof Anthropic.APIError>;
        expect(err.status).toBe(402);
        expect(err.headers?.get('x-should-retry')).toBe('false');
        expect(err.error).toMatchObject({
          type: 'error',
          error: {
            type: 'budget_exceeded',
            decision: { allowed: false, error_code: 'BUDGET_EXCEEDED', model: 'claude-sonnet-4-5' },
          },
        });
      });

      it('a suspended agent: 403', async () => {
        const agent = await rig().register();
        await rig().tg.identity.suspendAgent(agent.id);
        const e = await refused(agent, ({ openai }) =>
          openai.responses.create({ model: 'gpt-4o', input: 'Say hello.', max_output_tokens: 64 }),
        );
        expect(e).toMatchObject({
          status: 403,
          error: { type: 'permission_denied', decision: { allowed: false } },
        });
      });

      it('a model the role may not call: 403 permission_denied', async () => {
        const agent = await rig().register({ role: 'tester' });
        const e = await refused(agent, ({ openai }) =>
          openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 64 }),
        );
        expect(e).toMatchObject({
          status: 403,
          error: { type: 'permission_denied', decision: { allowed: false, model: 'gpt-4o' } },
        });
        // The model its role names is allowed: the 403 was the model's.
        const c = await rig().clients(route, agent).openai.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: MESSAGES,
          max_tokens: 64,
        });
        expect(c.model).toBe('gpt-4o-mini');
        expect(rig().upstream.calls()).toHaveLength(1);
      });
    });
  });

  describe.each(['tg.fetch', 'client.fetch'] as const)('through %s', (route) => {
    it('a call that is not a model call passes through, not metered', async () => {
      const agent = await rig().register();
      const list = await rig().clients(route, agent).openai.models.list();
      expect(list.data.map((m) => m.id)).toContain('gpt-4o');
      expect(rig().upstream.calls('models')).toHaveLength(1);
      // No hold, no event: the list is not a model call.
      expect(await rig().events(agent.id)).toEqual([]);
    });
  });

  describe.each(['tg.fetch', 'gateway'] as const)('through %s', (route) => {
    it('32 concurrent streams near the limit: never over it, nothing left held', async () => {
      // Usage within each hold (input counted ≥ 5, output held 100 ≥ 50): each costs 513 µ$.
      const usage = { inputTokens: 5, outputTokens: 50 };
      rig().upstream.set({ usage });
      const perCall = Math.ceil((5 * 2_500_000 + 50 * 10_000_000) / 1_000_000);
      // A hold costs > 1,000 µ$; at most 15 calls' usage fits in 8,000 µ$.
      const limit = 8000;
      const agent = await rig().register({ dailyCostLimit: limit / 1_000_000 });
      const { openai } = rig().clients(route, agent, { maxRetries: 0 });
      const results = await Promise.all(
        Array.from({ length: 32 }, async () => {
          try {
            const s = await openai.chat.completions.create({
              model: 'gpt-4o',
              messages: MESSAGES,
              max_tokens: 100,
              stream: true,
            });
            await collect(s);
            return 'allowed';
          } catch (e) {
            if ((e as { status?: number }).status === 402) return 'denied';
            throw e;
          }
        }),
      );
      const allowed = results.filter((r) => r === 'allowed').length;
      const denied = results.filter((r) => r === 'denied').length;
      expect(allowed + denied).toBe(32);
      expect(allowed).toBeGreaterThan(0);
      expect(denied).toBeGreaterThan(0);
      expect(rig().upstream.calls()).toHaveLength(allowed);
      const s = await rig().status(agent.id);
      expect(s.dailyCostMicros).toBe(allowed * perCall);
      expect(s.dailyCostMicros).toBeLessThanOrEqual(limit);
      expect([s.dailyReservedMicros, s.sessionTokensReserved, s.dailyOverrunMicros]).toEqual([
        0, 0, 0,
      ]);
      const settles = await rig().settles(agent.id);
      expect(settles).toHaveLength(allowed);
      expect(settles.every((e) => e.estimated === '0' && e.cost === String(perCall))).toBe(true);
    });
  });
});
