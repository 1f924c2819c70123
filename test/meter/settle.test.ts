/**
 * Issue 19's exact settles, on every engine: the real `openai` and
 * `@anthropic-ai/sdk` clients call the stand-in upstream through the
 * library's `tg.fetch`, the SDK's `client.fetch` (over HTTP) and the gateway;
 * chat, Responses and Messages, JSON and streamed. After each call the agent
 * has the stand-in's usage in tokens and that usage priced from the table in
 * cost (cached tokens once, at their rate), nothing held, and one settle
 * event (`model`, `cost`, `estimated: false`). A chat stream whose caller did
 * not ask for usage is settled too, and the caller sees the chunks it would
 * without Tollgate. The SDKs' helpers work through the fetch.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import {
  type Agent,
  collect,
  costOf,
  describeWithRig,
  FIGURES,
  GPT_4O_COST,
  MESSAGES,
  PROVIDER_KEY,
  ROUTES,
  SONNET_COST,
  TEXT,
} from '../support/meter-harness.js';
import { openaiClient } from '../support/model-clients.js';
import type { ModelApi } from '../support/model-upstream.js';

/** One call as the SDK makes it; resolves with the text the caller read. */
type Call = (c: { openai: OpenAI; anthropic: Anthropic }) => Promise<string>;

const CALLS: readonly (readonly [string, ModelApi, string, Call])[] = [
  [
    'chat',
    'chat',
    'gpt-4o',
    async ({ openai }) =>
      (
        await openai.chat.completions.create({
          model: 'gpt-4o',
          messages: MESSAGES,
          max_tokens: 512,
        })
      ).choices[0]?.message.content ?? '',
  ],
  [
    'chat stream, usage not asked',
    'chat',
    'gpt-4o',
    async ({ openai }) => {
      const s = await openai.chat.completions.create({
        model: 'gpt-4o',
        messages: MESSAGES,
        max_tokens: 512,
        stream: true,
      });
      return (await collect(s)).map((c) => c.choices[0]?.delta.content ?? '').join('');
    },
  ],
  [
    'chat stream, include_usage',
    'chat',
    'gpt-4o',
    async ({ openai }) => {
      const s = await openai.chat.completions.create({
        model: 'gpt-4o',
        messages: MESSAGES,
        max_tokens: 512,
        stream: true,
        stream_options: { include_usage: true },
      });
      return (await collect(s)).map((c) => c.choices[0]?.delta.content ?? '').join('');
    },
  ],
  [
    'responses',
    'responses',
    'gpt-4o',
    async ({ openai }) =>
      (
        await openai.responses.create({
          model: 'gpt-4o',
          input: 'Say hello.',
          max_output_tokens: 512,
        })
      ).output_text,
  ],
  [
    'responses stream',
    'responses',
    'gpt-4o',
    async ({ openai }) => {
      const s = await openai.responses.create({
        model: 'gpt-4o',
        input: 'Say hello.',
        max_output_tokens: 512,
        stream: true,
      });
      return (await collect(s))
        .map((e) => (e.type === 'response.output_text.delta' ? e.delta : ''))
        .join('');
    },
  ],
  [
    'messages',
    'messages',
    'claude-sonnet-4-5',
    async ({ anthropic }) => {
      const m = await anthropic.messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 512,
        messages: MESSAGES,
      });
      return m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    },
  ],
  [
    'messages stream',
    'messages',
    'claude-sonnet-4-5',
    async ({ anthropic }) => {
      const s = await anthropic.messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 512,
        messages: MESSAGES,
        stream: true,
      });
      return (await collect(s))
        .map((e) =>
          e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : '',
        )
        .join('');
    },
  ],
];

describeWithRig((rig) => {
  /** The agent paid exactly `cost` for one call of the stand-in's usage; nothing is held. */
  async function expectExactSettle(agent: Agent, model: string, cost: number): Promise<void> {
    // Read at once: the call (or the stream's end) comes after its settle.
    const s = await rig().status(agent.id);
    expect({
      tokens: s.sessionTokensUsed,
      tokensHeld: s.sessionTokensReserved,
      cost: s.dailyCostMicros,
      costHeld: s.dailyReservedMicros,
    }).toEqual({
      tokens: FIGURES.inputTokens + FIGURES.outputTokens,
      tokensHeld: 0,
      cost,
      costHeld: 0,
    });
    const settles = await rig().settles(agent.id);
    expect(settles).toHaveLength(1);
    expect(settles[0]).toMatchObject({
      model,
      cost: String(cost),
      estimated: '0',
      input_tokens: String(FIGURES.inputTokens),
      output_tokens: String(FIGURES.outputTokens),
    });
  }

  it('the hand-priced figures are the table’s (cached tokens at their own rate, once)', () => {
    expect(costOf(rig().tg, 'chat', 'gpt-4o')).toBe(GPT_4O_COST);
    expect(costOf(rig().tg, 'responses', 'gpt-4o')).toBe(GPT_4O_COST);
    expect(costOf(rig().tg, 'messages', 'claude-sonnet-4-5')).toBe(SONNET_COST);
  });

  describe.each(ROUTES)('through %s', (route) => {
    it.each(CALLS)('%s: settled exactly from the usage', async (_, api, model, call) => {
      const agent = await rig().register();
      expect(await call(rig().clients(route, agent))).toBe(TEXT);
      expect(rig().upstream.calls()).toHaveLength(1);
      await expectExactSettle(agent, model, costOf(rig().tg, api, model));
    });

    it('a chat stream without include_usage: the caller gets the chunks it would without Tollgate', async () => {
      const body = {
        model: 'gpt-4o',
        messages: MESSAGES,
        max_tokens: 512,
        stream: true,
        stream_options: { include_obfuscation: false },
      } as const;
      // Ids and times differ per answer; the rest must be the same.
      const shape = (chunks: unknown[]) =>
        chunks.map((c) => {
          const { id: _id, created: _created, ...rest } = c as Record<string, unknown>;
          return rest;
        });
      const plain = await collect(
        await openaiClient(rig().upstream.openaiBaseURL, {
          apiKey: PROVIDER_KEY,
        }).chat.completions.create(body),
      );
      // The stand-in, asked without usage, sends none.
      expect(plain.every((c) => !('usage' in c) && c.choices.length === 1)).toBe(true);
      rig().upstream.reset();

      const agent = await rig().register();
      const metered = await collect(
        await rig().clients(route, agent).openai.chat.completions.create(body),
      );
      expect(shape(metered)).toEqual(shape(plain));
      // Tollgate asked the upstream for the usage, and settled it.
      expect(rig().upstream.calls()[0]?.body).toMatchObject({
        stream_options: { include_usage: true },
      });
      await expectExactSettle(agent, 'gpt-4o', GPT_4O_COST);
    });

    it('a chat stream with include_usage: the caller gets the usage chunk', async () => {
      const agent = await rig().register();
      const chunks = await collect(
        await rig()
          .clients(route, agent)
          .openai.chat.completions.create({
            model: 'gpt-4o',
            messages: MESSAGES,
            max_tokens: 512,
            stream: true,
            stream_options: { include_usage: true },
          }),
      );
      const last = chunks.at(-1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage).toMatchObject({
        prompt_tokens: FIGURES.inputTokens,
        completion_tokens: FIGURES.outputTokens,
        prompt_tokens_details: { cached_tokens: FIGURES.cacheReadTokens },
      });
      expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
      await expectExactSettle(agent, 'gpt-4o', GPT_4O_COST);
    });

    describe('the SDKs’ helpers', () => {
      it('.withResponse()', async () => {
        const agent = await rig().register();
        const { data, response } = await rig()
          .clients(route, agent)
          .openai.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 512 })
          .withResponse();
        expect(data.choices[0]?.message.content).toBe(TEXT);
        expect(data.usage?.prompt_tokens).toBe(FIGURES.inputTokens);
        expect(response.status).toBe(200);
        expect(response.headers.get('x-request-id')).toMatch(/^req_/);
        await expectExactSettle(agent, 'gpt-4o', GPT_4O_COST);
      });

      it('tee(): both branches read the whole stream', async () => {
        const agent = await rig().register();
        const stream = await rig().clients(route, agent).anthropic.messages.create({
          model: 'claude-sonnet-4-5',
          max_tokens: 512,
          messages: MESSAGES,
          stream: true,
        });
        const [a, b] = stream.tee();
        const [ea, eb] = await Promise.all([collect(a), collect(b)]);
        expect(ea.map((e) => e.type)).toEqual(eb.map((e) => e.type));
        expect(ea.at(-1)?.type).toBe('message_stop');
        await expectExactSettle(agent, 'claude-sonnet-4-5', SONNET_COST);
      });

      it('messages.stream().finalMessage()', async () => {
        const agent = await rig().register();
        const m = await rig()
          .clients(route, agent)
          .anthropic.messages.stream({
            model: 'claude-sonnet-4-5',
            max_tokens: 512,
            messages: MESSAGES,
          })
          .finalMessage();
        expect(m.content[0]).toMatchObject({ type: 'text', text: TEXT });
        expect(m.usage).toMatchObject({ cache_read_input_tokens: FIGURES.cacheReadTokens });
        await expectExactSettle(agent, 'claude-sonnet-4-5', SONNET_COST);
      });

      it('responses.stream().finalResponse()', async () => {
        const agent = await rig().register();
        const stream = rig().clients(route, agent).openai.responses.stream({
          model: 'gpt-4o',
          input: 'Say hello.',
          max_output_tokens: 512,
        });
        const deltas: string[] = [];
        stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
        const r = await stream.finalResponse();
        expect(deltas.join('')).toBe(TEXT);
        const [item] = r.output;
        expect(item?.type === 'message' && item.content[0]).toMatchObject({ text: TEXT });
        expect(r.usage?.input_tokens).toBe(FIGURES.inputTokens);
        await expectExactSettle(agent, 'gpt-4o', GPT_4O_COST);
      });

      it('chat.completions.stream().finalChatCompletion()', async () => {
        const agent = await rig().register();
        const c = await rig()
          .clients(route, agent)
          .openai.chat.completions.stream({
            model: 'gpt-4o',
            messages: MESSAGES,
            max_tokens: 512,
          })
          .finalChatCompletion();
        expect(c.choices[0]?.message.content).toBe(TEXT);
        await expectExactSettle(agent, 'gpt-4o', GPT_4O_COST);
      });
    });
  });
});
