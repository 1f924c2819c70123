/**
 * The stand-in upstream's faults (test/support/model-upstream.ts) as the real
 * `openai` and `@anthropic-ai/sdk` clients see them: error statuses and the
 * SDKs' retries, sockets cut mid-answer, answers held open and aborted.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  anthropicClient,
  type ModelClientOptions,
  openaiClient,
} from '../support/model-clients.js';
import { type ModelUpstream, startModelUpstream } from '../support/model-upstream.js';

const TEXT = 'One two three four five six.';
const MESSAGES = [{ role: 'user' as const, content: 'Say hello.' }];
/** Retry at once (both SDKs obey `retry-after-ms`; Anthropic's only when above 0). */
const NOW = { 'retry-after-ms': '1' };

let upstream: ModelUpstream;

beforeAll(async () => {
  upstream = await startModelUpstream({ text: TEXT, chunks: 6 });
});
afterAll(() => upstream.close());
beforeEach(() => upstream.reset());

const openai = (o: ModelClientOptions = {}) => openaiClient(upstream.openaiBaseURL, o);
const anthropic = (o: ModelClientOptions = {}) => anthropicClient(upstream.anthropicBaseURL, o);
const chat = (o?: ModelClientOptions) =>
  openai(o).chat.completions.create({ model: 'gpt-4o', messages: MESSAGES });
const message = (o?: ModelClientOptions) =>
  anthropic(o).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: MESSAGES });
const retryCounts = () => upstream.requests.map((r) => r.headers['x-stainless-retry-count']);

describe('errors and retries', () => {
  it.each([
    ['openai', chat],
    ['anthropic', message],
  ] as const)('%s: a 500 then a 200 is one retry (default backoff)', async (_, call) => {
    upstream.failNext(1, 500);
    await call({ maxRetries: 1 });
    expect(upstream.requests.map((r) => r.status)).toEqual([500, 200]);
    expect(retryCounts()).toEqual(['0', '1']);
    // The retry is the same request.
    expect(upstream.requests[1]?.body).toEqual(upstream.requests[0]?.body);
  });

  it('with maxRetries 0 the 500 reaches the caller, with the provider error body', async () => {
    upstream.failNext(2, 500, { message: 'boom' });
    const o = await chat({ maxRetries: 0 }).catch((e: unknown) => e);
    expect(o).toBeInstanceOf(OpenAI.InternalServerError);
    expect(o).toMatchObject({ status: 500, error: { message: 'boom', type: 'server_error' } });
    const a = await message({ maxRetries: 0 }).catch((e: unknown) => e);
    expect(a).toBeInstanceOf(Anthropic.InternalServerError);
    expect(a).toMatchObject({
      status: 500,
      error: { type: 'error', error: { type: 'api_error', message: 'boom' } },
    });
    expect(upstream.requests).toHaveLength(2);
  });

  it('retries run out: 1 + maxRetries calls', async () => {
    upstream.failNext(10, 503, { headers: NOW });
    await expect(chat({ maxRetries: 2 })).rejects.toMatchObject({ status: 503 });
    expect(retryCounts()).toEqual(['0', '1', '2']);
  });

  it.each([
    ['openai', chat],
    ['anthropic', message],
  ] as const)('%s obeys x-should-retry both ways', async (_, call) => {
    upstream.failNext(1, 500, { headers: { 'x-should-retry': 'false' } });
    await expect(call({ maxRetries: 2 })).rejects.toMatchObject({ status: 500 });
    expect(upstream.requests).toHaveLength(1);

    upstream.reset();
    upstream.failNext(1, 400, { headers: { 'x-should-retry': 'true', ...NOW } });
    await call({ maxRetries: 2 });
    expect(upstream.requests.map((r) => r.status)).toEqual([400, 200]);
  });

  it('429 is retried, after retry-after-ms', async () => {
    upstream.failNext(1, 429, { headers: NOW });
    await chat();
    upstream.failNext(1, 429, { headers: NOW });
    await message();
    expect(upstream.requests.map((r) => [r.api, r.status])).toEqual([
      ['chat', 429],
      ['chat', 200],
      ['messages', 429],
      ['messages', 200],
    ]);
  });

  it('402 is not retried: OpenAI gives a plain APIError, Anthropic a PaymentRequiredError', async () => {
    upstream.failNext(1, 402, { message: 'budget exhausted' });
    const o = await chat().catch((e: unknown) => e);
    expect(o).toMatchObject({ status: 402, error: { message: 'budget exhausted' } });
    expect((o as object).constructor).toBe(OpenAI.APIError);
    upstream.failNext(1, 402, { message: 'budget exhausted' });
    const a = await message().catch((e: unknown) => e);
    expect(a).toBeInstanceOf(Anthropic.PaymentRequiredError);
    expect(a).toMatchObject({
      status: 402,
      error: { error: { type: 'billing_error', message: 'budget exhausted' } },
    });
    expect(upstream.requests).toHaveLength(2);
  });

  it('a stream request that fails before its headers is retried too', async () => {
    upstream.failNext(1, 503, { headers: NOW });
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(TEXT);
    expect(upstream.requests.map((r) => [r.status, r.stream])).toEqual([
      [503, true],
      [200, true],
    ]);
  });

  it('an unknown path is the provider 404', async () => {
    const res = await fetch(`${upstream.url}/v1/embeddings`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(upstream.requests[0]?.api).toBeUndefined();
  });
});

describe('cut mid-answer', () => {
  it('an OpenAI stream cut after 3 chunks fails in the caller; nothing is sent again', async () => {
    const held = upstream.hold(3);
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
    });
    const chunks = stream[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) expect((await chunks.next()).done).toBe(false);
    held.cut();
    // undici's error, not wrapped by the SDK.
    await expect(chunks.next()).rejects.toThrow('terminated');
    expect(upstream.requests).toHaveLength(1);
    expect(await upstream.requests[0]?.ended).toBe('cut');
  });

  it('cutAfterChunks cuts at once: the client may lose events it had received', async () => {
    upstream.cutAfterChunks(3);
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
    });
    let seen = 0;
    const read = (async () => {
      for await (const _ of stream) seen++;
    })();
    await expect(read).rejects.toThrow();
    expect(seen).toBeLessThanOrEqual(3);
    expect(upstream.requests[0]?.chunksSent).toBe(3);
  });

  it('an Anthropic stream cut: finalMessage() rejects; nothing is sent again', async () => {
    upstream.cutAfterChunks(4);
    const stream = anthropic().messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: MESSAGES,
    });
    await expect(stream.finalMessage()).rejects.toThrow();
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]?.chunksSent).toBe(4);
  });

  it('a JSON body cut: OpenAI fails, Anthropic sends the request again', async () => {
    upstream.cutAfterChunks(0);
    // OpenAI: undici's TypeError, neither retried nor wrapped.
    const o = await chat().catch((e: unknown) => e);
    expect(o).toBeInstanceOf(TypeError);
    expect(o).toMatchObject({ message: 'terminated' });
    expect(upstream.requests).toHaveLength(1);

    upstream.reset();
    upstream.cutAfterChunks(0);
    const m = await message();
    expect(m.content).toEqual([{ type: 'text', text: TEXT, citations: null }]);
    expect(upstream.requests.map((r) => r.ending)).toEqual(['cut', 'complete']);
    expect(retryCounts()).toEqual(['0', '1']);

    upstream.reset();
    upstream.cutAfterChunks(0);
    await expect(message({ maxRetries: 0 })).rejects.toBeInstanceOf(Anthropic.APIConnectionError);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('held answers', () => {
  it('a stream held after 2 events goes on when released', async () => {
    const held = upstream.hold(2);
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
    });
    const request = await held.reached;
    expect(request.chunksSent).toBe(2);
    held.release();
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(TEXT);
    expect(await request.ended).toBe('complete');
  });

  it('an OpenAI stream aborted while held: the upstream sees the client go', async () => {
    const held = upstream.hold(2);
    const controller = new AbortController();
    const stream = await openai().chat.completions.create(
      { model: 'gpt-4o', messages: MESSAGES, stream: true },
      { signal: controller.signal },
    );
    const request = await held.reached;
    controller.abort();
    // The SDK ends the iteration quietly on its own abort.
    const seen = [];
    for await (const c of stream) seen.push(c);
    expect(seen.length).toBeLessThanOrEqual(2);
    expect(await request.ended).toBe('client-closed');
  });

  it('an Anthropic stream helper aborted while held', async () => {
    const held = upstream.hold(3);
    const stream = anthropic().messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: MESSAGES,
    });
    const request = await held.reached;
    stream.abort();
    await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(await request.ended).toBe('client-closed');
  });

  it('a JSON answer held before its headers; aborted, then another released', async () => {
    const first = upstream.hold();
    const controller = new AbortController();
    const aborted = openai()
      .chat.completions.create(
        { model: 'gpt-4o', messages: MESSAGES },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e);
    const request = await first.reached;
    controller.abort();
    expect(await aborted).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(await request.ended).toBe('client-closed');

    const second = upstream.hold();
    const answer = message();
    await second.reached;
    second.release();
    expect((await answer).content).toHaveLength(1);
  });

  it('a delay between events, many chunks', async () => {
    upstream.set({ chunks: 12, chunkDelayMs: 2, text: 'abcdefghijklmnopqrstuvwx' });
    const stream = anthropic().messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: MESSAGES,
    });
    const deltas: string[] = [];
    stream.on('text', (d) => deltas.push(d));
    await stream.finalMessage();
    expect(deltas).toHaveLength(12);
    expect(deltas.join('')).toBe('abcdefghijklmnopqrstuvwx');
  });
});

describe('what the SDKs do with what a custom fetch does', () => {
  const denial = () =>
    new Response(JSON.stringify({ error: { code: 'BUDGET_EXCEEDED', message: 'no budget' } }), {
      status: 402,
      headers: { 'content-type': 'application/json' },
    });

  it('a fetch that throws is retried like a lost connection, then wrapped', async () => {
    const thrown = new Error('denied');
    let calls = 0;
    const fetch = async () => {
      calls++;
      throw thrown;
    };
    const o = await chat({ fetch, maxRetries: 2 }).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(o).toBeInstanceOf(OpenAI.APIConnectionError);
    expect((o as Error).cause).toBe(thrown);
    calls = 0;
    const a = await message({ fetch, maxRetries: 2 }).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(a).toBeInstanceOf(Anthropic.APIConnectionError);
    expect((a as Error).cause).toBe(thrown);
  });

  it('a fetch that answers 402 is called once; the body reaches the error', async () => {
    let calls = 0;
    const fetch = async () => {
      calls++;
      return denial();
    };
    const o = await chat({ fetch }).catch((e: unknown) => e);
    // OpenAI keeps the body's `error` member; Anthropic the whole body.
    expect(o).toMatchObject({ status: 402, error: { code: 'BUDGET_EXCEEDED' } });
    const a = await message({ fetch }).catch((e: unknown) => e);
    expect(a).toBeInstanceOf(Anthropic.PaymentRequiredError);
    expect(a).toMatchObject({ status: 402, error: { error: { code: 'BUDGET_EXCEEDED' } } });
    expect(calls).toBe(2);
    expect(upstream.requests).toHaveLength(0);
  });
});
