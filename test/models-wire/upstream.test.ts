/**
 * The stand-in upstream (test/support/model-upstream.ts) driven by the real
 * `openai` and `@anthropic-ai/sdk` clients, no Tollgate between them: the SDKs
 * and their helpers parse its answers, and the usage comes out as configured.
 * Faults: upstream-faults.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStreamMeter, usageFromBody } from '../../src/models/index.js';
import { anthropicClient, openaiClient, recordingFetch } from '../support/model-clients.js';
import {
  expectedUsage,
  type ModelApi,
  type ModelUpstream,
  startModelUpstream,
} from '../support/model-upstream.js';

const TEXT = 'Tollgate meters this reply, piece by piece: 東京 🚀.';
const FIGURES = {
  inputTokens: 2000,
  outputTokens: 300,
  cacheReadTokens: 1500,
  cacheWriteTokens: 250,
  reasoningTokens: 120,
};
const MESSAGES = [{ role: 'user' as const, content: 'Say hello.' }];
let upstream: ModelUpstream;

beforeAll(async () => {
  upstream = await startModelUpstream({ text: TEXT, chunks: 5, usage: FIGURES });
});
afterAll(() => upstream.close());
beforeEach(() => upstream.reset());

const openai = () => openaiClient(upstream.openaiBaseURL, { apiKey: 'sk-openai-1' });
const anthropic = () => anthropicClient(upstream.anthropicBaseURL, { apiKey: 'sk-ant-1' });

/** OpenAI's figures: cached inside the prompt, reasoning inside the completion. */
const CHAT_USAGE = {
  prompt_tokens: 2000,
  completion_tokens: 300,
  total_tokens: 2300,
  prompt_tokens_details: { cached_tokens: 1500, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 120,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
};
const RESPONSES_USAGE = {
  input_tokens: 2000,
  input_tokens_details: { cached_tokens: 1500 },
  output_tokens: 300,
  output_tokens_details: { reasoning_tokens: 120 },
  total_tokens: 2300,
};
/** Anthropic's three input counts add up to the input: 250 + 1500 + 250 = 2000. */
const MESSAGES_USAGE = {
  input_tokens: 250,
  cache_read_input_tokens: 1500,
  cache_creation_input_tokens: 250,
  output_tokens: 300,
};

describe('OpenAI chat completions', () => {
  it('answers a call with the text and the usage, and records the request', async () => {
    const completion = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
    });
    expect(completion.choices[0]?.message.content).toBe(TEXT);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.model).toBe('gpt-4o');
    expect(completion.usage).toEqual(CHAT_USAGE);

    expect(upstream.requests).toHaveLength(1);
    const call = upstream.requests[0];
    expect(call).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      api: 'chat',
      provider: 'openai',
      stream: false,
      status: 200,
      body: { model: 'gpt-4o', messages: MESSAGES },
    });
    expect(call?.headers.authorization).toBe('Bearer sk-openai-1');
    expect(call?.headers['x-stainless-retry-count']).toBe('0');
    expect(await call?.ended).toBe('complete');
  });

  it('streams chunks without usage when the request does not ask for it', async () => {
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    // The role chunk, 5 pieces, the finish chunk; no usage chunk.
    expect(chunks).toHaveLength(7);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(TEXT);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
    expect(upstream.requests[0]?.body).not.toHaveProperty('stream_options');
    expect(upstream.requests[0]?.chunksSent).toBe(8); // with data: [DONE]
  });

  it('with include_usage: "usage":null on every chunk, then a usage chunk with no choices', async () => {
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(8);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual(CHAT_USAGE);
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
    expect(upstream.requests[0]?.body).toMatchObject({ stream_options: { include_usage: true } });
  });

  it('the chat.completions.stream helper gives the final completion with its usage', async () => {
    const stream = openai().chat.completions.stream({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    stream.on('content', (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    expect(deltas.join('')).toBe(TEXT);
    expect(final.choices[0]?.message.content).toBe(TEXT);
    expect(final.usage).toEqual(CHAT_USAGE);
  });

  it('.withResponse() gives the data and the response, with its request id', async () => {
    const { data, response, request_id } = await openai()
      .chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES })
      .withResponse();
    expect(data.usage).toEqual(CHAT_USAGE);
    expect(response.status).toBe(200);
    expect(request_id).toMatch(/^req_[0-9a-f]{24}$/);
    expect(response.headers.get('content-type')).toBe('application/json');
  });

  it('stream.tee() gives two readers of the same chunks', async () => {
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
      stream_options: { include_usage: true },
    });
    const [a, b] = stream.tee();
    const read = async (s: typeof a) => {
      const out = [];
      for await (const chunk of s) out.push(chunk);
      return out;
    };
    const [left, right] = await Promise.all([read(a), read(b)]);
    expect(left).toHaveLength(8);
    expect(right).toEqual(left);
    expect(left.at(-1)?.usage).toEqual(CHAT_USAGE);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('OpenAI responses', () => {
  it('answers a call with output_text and the usage', async () => {
    const response = await openai().responses.create({ model: 'gpt-4.1', input: 'Say hello.' });
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe(TEXT);
    expect(response.usage).toEqual(RESPONSES_USAGE);
    expect(upstream.requests[0]).toMatchObject({ path: '/v1/responses', api: 'responses' });
  });

  it('streams typed events, ending with response.completed and its usage', async () => {
    const stream = await openai().responses.create({
      model: 'gpt-4.1',
      input: 'Say hello.',
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(5).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const last = events.at(-1);
    expect(last?.type === 'response.completed' && last.response.usage).toEqual(RESPONSES_USAGE);
  });

  it('the responses.stream helper gives finalResponse() with the text and usage', async () => {
    const stream = openai().responses.stream({ model: 'gpt-4.1', input: 'Say hello.' });
    const deltas: string[] = [];
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    expect(deltas.join('')).toBe(TEXT);
    const [item] = final.output;
    expect(item?.type === 'message' && item.content[0]).toMatchObject({ text: TEXT });
    expect(final.usage).toEqual(RESPONSES_USAGE);
    // openai 6.30.1: the helper's final response has no `output_text` (create() adds it).
    expect(final).not.toHaveProperty('output_text');
  });
});

describe('Anthropic messages', () => {
  it('answers a call with the text and the usage; the SDK sends its key as a Bearer token', async () => {
    const message = await anthropic().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 512,
      messages: MESSAGES,
    });
    expect(message.type).toBe('message');
    expect(message.content).toEqual([{ type: 'text', text: TEXT, citations: null }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({
      ...MESSAGES_USAGE,
      cache_creation: { ephemeral_5m_input_tokens: 250, ephemeral_1h_input_tokens: 0 },
      output_tokens_details: { thinking_tokens: 120 },
    });
    const call = upstream.requests[0];
    expect(call).toMatchObject({ path: '/v1/messages', api: 'messages', provider: 'anthropic' });
    // @anthropic-ai/sdk 1.17.0 sends `apiKey` as `Authorization: Bearer`, not `x-api-key`.
    expect(call?.headers.authorization).toBe('Bearer sk-ant-1');
    expect(call?.headers['x-api-key']).toBeUndefined();
    expect(call?.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('streams message_start … message_stop; the SDK drops the ping', async () => {
    const stream = await anthropic().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 512,
      messages: MESSAGES,
      stream: true,
    });
    const events = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).toEqual([
      'message_start',
      'content_block_start',
      ...Array(5).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const start = events[0];
    expect(start?.type === 'message_start' && start.message.usage).toMatchObject({
      ...MESSAGES_USAGE,
      output_tokens: 1,
    });
    const delta = events.at(-2);
    expect(delta?.type === 'message_delta' && delta.usage).toMatchObject(MESSAGES_USAGE);
    expect(upstream.requests[0]?.chunksSent).toBe(11); // the ping included
  });

  it('the messages.stream helper gives finalMessage() with the cumulative usage', async () => {
    const stream = anthropic().messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 512,
      messages: MESSAGES,
    });
    const deltas: string[] = [];
    stream.on('text', (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(deltas.join('')).toBe(TEXT);
    expect(final.content).toEqual([{ type: 'text', text: TEXT, citations: null }]);
    expect(final.usage).toMatchObject(MESSAGES_USAGE);
  });

  it('.withResponse() gives the request-id header', async () => {
    const { data, request_id } = await anthropic()
      .messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: MESSAGES })
      .withResponse();
    expect(data.usage).toMatchObject(MESSAGES_USAGE);
    expect(request_id).toMatch(/^req_[0-9a-f]{24}$/);
  });
});

describe('models, prefix, key and fetch', () => {
  it('lists models in each provider shape', async () => {
    const ids = [];
    for await (const m of openai().models.list()) ids.push(m.id);
    expect(ids).toEqual(['gpt-4o', 'claude-sonnet-4-5']);
    const page = await anthropic().models.list();
    expect(page.data.map((m) => m.id)).toEqual(['gpt-4o', 'claude-sonnet-4-5']);
    expect(upstream.requests.map((r) => [r.method, r.path, r.provider])).toEqual([
      ['GET', '/v1/models', 'openai'],
      ['GET', '/v1/models', 'anthropic'],
    ]);
  });

  it('serves a prefix as well as /v1', async () => {
    const prefixed = await startModelUpstream({ prefix: '/gw/openai/' });
    try {
      expect(prefixed.openaiBaseURL).toBe(`${prefixed.url}/gw/openai/v1`);
      const client = openaiClient(prefixed.openaiBaseURL);
      await client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES });
      await anthropicClient(prefixed.anthropicBaseURL).messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 8,
        messages: MESSAGES,
      });
      await openaiClient(`${prefixed.url}/v1`).models.list();
      expect(prefixed.requests.map((r) => [r.path, r.api])).toEqual([
        ['/gw/openai/v1/chat/completions', 'chat'],
        ['/gw/openai/v1/messages', 'messages'],
        ['/v1/models', 'models'],
      ]);
    } finally {
      await prefixed.close();
    }
  });

  it('with apiKey set, refuses another key with the provider 401', async () => {
    upstream.set({ apiKey: 'sk-right' });
    await expect(
      openai().chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
    ).rejects.toMatchObject({ status: 401, error: { code: 'invalid_api_key' } });
    await expect(
      anthropic().messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 8,
        messages: MESSAGES,
      }),
    ).rejects.toMatchObject({ status: 401, error: { error: { type: 'authentication_error' } } });
    const ok = openaiClient(upstream.openaiBaseURL, { apiKey: 'sk-right' });
    await expect(ok.models.list()).resolves.toBeDefined();
  });

  it('both SDKs call fetch(url string, init) with a Headers, a string body and a signal', async () => {
    const o = recordingFetch();
    const a = recordingFetch();
    await openaiClient(upstream.openaiBaseURL, { fetch: o.fetch }).chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
    });
    await anthropicClient(upstream.anthropicBaseURL, { fetch: a.fetch }).messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 8,
      messages: MESSAGES,
    });
    for (const [{ calls }, path] of [
      [o, '/v1/chat/completions'],
      [a, '/v1/messages'],
    ] as const) {
      expect(calls).toHaveLength(1);
      const call = calls[0];
      expect(call?.inputKind).toBe('string');
      expect(call?.url).toBe(`${upstream.url}${path}`);
      expect(call?.method).toBe('POST');
      expect(call?.headers).toBeInstanceOf(Headers);
      expect(typeof call?.body).toBe('string');
      expect(call?.signal).toBeInstanceOf(AbortSignal);
    }
  });
});

describe('the answers meter as expectedUsage says', () => {
  const raw = (path: string, body: object, headers: Record<string, string> = {}) =>
    fetch(`${upstream.url}/v1/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const cases: [ModelApi, string, object][] = [
    ['chat', 'chat/completions', { model: 'gpt-4o', messages: MESSAGES }],
    ['responses', 'responses', { model: 'gpt-4.1', input: 'hi' }],
    ['messages', 'messages', { model: 'claude-sonnet-4-5', max_tokens: 8, messages: MESSAGES }],
  ];

  it.each(cases)('%s, JSON and stream', async (api, path, body) => {
    const json = await (await raw(path, body)).json();
    expect(usageFromBody(api, json)).toEqual(expectedUsage(api, FIGURES));

    const streamBody = {
      ...body,
      stream: true,
      ...(api === 'chat' ? { stream_options: { include_usage: true } } : {}),
    };
    const meter = createStreamMeter(api);
    const bytes = new Uint8Array(await (await raw(path, streamBody)).arrayBuffer());
    meter.push(bytes);
    meter.end();
    expect(await meter.usage).toEqual(expectedUsage(api, FIGURES));
    if (api === 'messages') expect(new TextDecoder().decode(bytes)).toContain('event: ping\n');
  });
});
