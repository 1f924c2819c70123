/**
 * The gateway's way to the upstream (src/api/gateway/upstream-http.ts) reads
 * the stand-in upstream's answers as Node's `fetch` does: the same statuses,
 * headers and text; a stream chunk by chunk; a cut answer, an abort and a
 * silent upstream fail the call or its body. Each case runs on both, with the
 * same expectations.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { upstreamHttp } from '../../src/api/gateway/upstream-http.js';
import type { UpstreamAnswer, UpstreamFetch } from '../../src/meter/upstream.js';
import { type ModelUpstream, startModelUpstream } from '../support/model-upstream.js';

const TEXT = 'One two three four five six.';
const REQUEST = {
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 64,
};
const BODY = JSON.stringify(REQUEST);

let upstream: ModelUpstream;

beforeAll(async () => {
  upstream = await startModelUpstream({ text: TEXT, chunks: 6 });
});
afterAll(() => upstream.close());
beforeEach(() => upstream.reset());

const WAYS: [string, UpstreamFetch][] = [
  ['fetch', (url, init) => fetch(url, init)],
  ['upstreamHttp', upstreamHttp()],
];

/** The stream's text, read chunk by chunk. */
async function readAll(body: ReadableStream<Uint8Array> | null): Promise<string> {
  if (body === null) throw new Error('no body');
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

function headersOf(a: UpstreamAnswer): [string, string][] {
  const out: [string, string][] = [];
  a.headers.forEach((value, name) => {
    out.push([name, name === 'date' || name.endsWith('request-id') ? '…' : value]);
  });
  return out;
}

describe.each(WAYS)('%s', (_, send) => {
  const chat = (o: { stream?: boolean; signal?: AbortSignal } = {}) =>
    send(`${upstream.openaiBaseURL}/chat/completions`, {
      method: 'POST',
      headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer sk-x' }),
      body: o.stream ? JSON.stringify({ ...REQUEST, stream: true }) : BODY,
      signal: o.signal,
    });

  it('a JSON answer: its status, head and text; the request as sent', async () => {
    const a = await chat();
    expect([a.ok, a.status, a.statusText]).toEqual([true, 200, 'OK']);
    expect(a.headers.get('Content-Type')).toBe('application/json');
    expect(headersOf(a).map(([name]) => name)).toEqual([
      'connection',
      'content-length',
      'content-type',
      'date',
      'keep-alive',
      'x-request-id',
    ]);
    const body = JSON.parse(await a.text());
    expect(body.choices[0].message.content).toBe(TEXT);
    const r = upstream.requests[0];
    expect(r?.body).toEqual(JSON.parse(BODY));
    expect(r?.headers.authorization).toBe('Bearer sk-x');
    expect(r?.headers['content-length']).toBe(String(BODY.length));
  });

  it('a stream: every event, in order, as a body read chunk by chunk', async () => {
    const a = await chat({ stream: true });
    expect(a.headers.get('content-type')).toContain('text/event-stream');
    const text = await readAll(a.body);
    const deltas = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? '')
      .join('');
    expect(deltas).toBe(TEXT);
    expect(text.trim().endsWith('data: [DONE]')).toBe(true);
  });

  it('an error answer: not ok, its status and text as sent', async () => {
    upstream.failNext(1, 503, { headers: { 'x-should-retry': 'false' }, message: 'down' });
    const a = await chat();
    expect([a.ok, a.status, a.statusText]).toEqual([false, 503, 'Service Unavailable']);
    expect(a.headers.get('x-should-retry')).toBe('false');
    expect(JSON.parse(await a.text())).toMatchObject({ error: { message: 'down' } });
  });

  it('a JSON answer cut after its head: reading it fails', async () => {
    upstream.cutAfterChunks(0);
    const a = await chat();
    expect(a.status).toBe(200);
    await expect(a.text()).rejects.toThrow();
  });

  it('a stream cut mid-way: reading it fails', async () => {
    const held = upstream.hold(2);
    const a = await chat({ stream: true });
    await held.reached;
    held.cut();
    await expect(readAll(a.body)).rejects.toThrow();
  });

  it('an abort before the head fails the call with the abort', async () => {
    const held = upstream.hold();
    const ac = new AbortController();
    const pending = chat({ signal: ac.signal });
    await held.reached;
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(await upstream.requests[0]?.ended).toBe('client-closed');
  });

  it('an abort mid-stream fails its body with the abort', async () => {
    const held = upstream.hold(2);
    const ac = new AbortController();
    const a = await chat({ stream: true, signal: ac.signal });
    await held.reached;
    ac.abort();
    await expect(readAll(a.body)).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('upstreamHttp alone', () => {
  it('an upstream silent past the idle limit fails the call', async () => {
    const held = upstream.hold();
    const pending = upstreamHttp(50)(`${upstream.openaiBaseURL}/chat/completions`, {
      method: 'POST',
      headers: new Headers({ 'content-type': 'application/json' }),
      body: BODY,
    });
    await held.reached;
    await expect(pending).rejects.toThrow(/silent/);
    expect(await upstream.requests[0]?.ended).toBe('client-closed');
  });

  it('a URL that is not http(s) is refused', async () => {
    await expect(
      upstreamHttp()('ftp://127.0.0.1/v1/chat/completions', {
        method: 'POST',
        headers: new Headers(),
        body: BODY,
      }),
    ).rejects.toThrow(TypeError);
  });
});
