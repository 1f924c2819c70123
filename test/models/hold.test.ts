import { describe, expect, it } from 'vitest';
import {
  bytesBound,
  countingFor,
  createPriceTable,
  createTokenCounter,
  holdFor,
  loadO200k,
  type ModelPrice,
  parseModelRequest,
} from '../../src/models/index.js';

/** A stand-in o200k counter: one token per character, and a record of what it was asked. */
function spyCounter() {
  const asked: string[] = [];
  const counter = createTokenCounter({
    o200k: (text) => {
      asked.push(text);
      return text.length;
    },
  });
  return { asked, counter };
}

const table = createPriceTable({
  overrides: { default: { inputMicrosPerMillion: 3_000_000, outputMicrosPerMillion: 15_000_000 } },
  defaultModel: 'default',
});
const price = (model: string): ModelPrice => table.lookup(model).price;

describe('the hold of each endpoint', () => {
  it('chat: o200k counts + overhead, output at max_completion_tokens × n, priced at the model', () => {
    const { counter } = spyCounter();
    const req = parseModelRequest('chat', {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'abc' },
        { role: 'user', content: 'defgh' },
      ],
      max_completion_tokens: 100,
      n: 2,
    });
    const hold = holdFor(req, price('gpt-4o'), counter, { outputCap: 4096 });
    expect(hold.counting).toBe('o200k');
    expect(hold.inputTokens).toBe(3 + 5 + 2 * 4 + 3);
    expect(hold.outputTokens).toBe(200);
    expect(hold.costMicros).toBe(Math.ceil(19 * 2.5 + 200 * 10));
  });

  it('responses: no output limit in the request, so the caller’s cap', () => {
    const { counter } = spyCounter();
    const req = parseModelRequest('responses', { model: 'gpt-5', input: 'hello' });
    const hold = holdFor(req, price('gpt-5'), counter, { outputCap: 1000 });
    expect(hold.inputTokens).toBe(5 + 4 + 3);
    expect(hold.outputTokens).toBe(1000);
    expect(hold.costMicros).toBe(Math.ceil(12 * 1.25 + 1000 * 10));
  });

  it('messages (Claude): the byte bound, max_tokens, cache writes at the dearer cache write rate', () => {
    const { asked, counter } = spyCounter();
    const text = 'Tollgate meters model calls. '.repeat(10);
    const body = {
      model: 'claude-sonnet-4-20250514',
      max_tokens: 500,
      system: [{ type: 'text', text, cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: [{ role: 'user', content: 'go' }],
    };
    const req = parseModelRequest('messages', body);
    const hold = holdFor(req, price(body.model), counter, { outputCap: 4096 });
    expect(hold.counting).toBe('bytes');
    expect(asked).toEqual([]); // the tokenizer is not used for Claude
    const input = bytesBound(text) + bytesBound('go') + 2 * 4 + 3;
    expect(hold.inputTokens).toBe(input);
    expect(hold.outputTokens).toBe(500);
    expect(hold.usage).toMatchObject({ cacheWriteTokens: input, cacheWrite1hTokens: input });
    expect(hold.costMicros).toBe(Math.ceil(input * 6 + 500 * 15)); // $6 / M one-hour writes
  });

  it('attachments at a fixed count each; an unknown model at the default price', () => {
    const { counter } = spyCounter();
    const req = parseModelRequest('chat', {
      model: 'my-llama',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
      max_tokens: 10,
    });
    const p = table.lookup('my-llama');
    expect(p.unknown).toBe(true);
    const hold = holdFor(req, p.price, counter, { outputCap: 1, attachmentTokens: 1000 });
    expect(hold.counting).toBe('bytes');
    expect(hold.inputTokens).toBe(1000 + 4 + 3);
    expect(hold.costMicros).toBe(Math.ceil(1007 * 3 + 10 * 15));
  });

  it('refuses a cap that is not a non-negative integer', () => {
    const { counter } = spyCounter();
    const req = parseModelRequest('responses', { model: 'gpt-5', input: 'x' });
    expect(() => holdFor(req, price('gpt-5'), counter, { outputCap: -1 })).toThrow(RangeError);
    expect(() => holdFor(req, price('gpt-5'), counter, { outputCap: 1.5 })).toThrow(RangeError);
  });
});

describe('counting', () => {
  it('o200k for OpenAI’s models, the byte bound for others', () => {
    for (const m of ['gpt-4o', 'gpt-4.1-mini', 'o3', 'o4-mini', 'gpt-5'])
      expect(countingFor(m), m).toBe('o200k');
    for (const m of ['claude-sonnet-4-5', 'my-llama', 'gemini-2.5-pro'])
      expect(countingFor(m), m).toBe('bytes');
  });

  it('the byte bound is ceil(utf8 bytes / 2.5)', () => {
    expect(bytesBound('')).toBe(0);
    expect(bytesBound('a')).toBe(1);
    expect(bytesBound('abcde')).toBe(2);
    expect(bytesBound('abcdef')).toBe(3);
    expect(bytesBound('東京')).toBe(3); // 6 bytes
  });

  it('a resent history is not counted again: only the new message reaches the tokenizer', () => {
    const { asked, counter } = spyCounter();
    const history = Array.from({ length: 20 }, (_, i) => ({
      role: 'user',
      content: `message number ${i}`,
    }));
    const first = parseModelRequest('chat', { model: 'gpt-4o', messages: history });
    const n1 = counter.count(first.texts, 'o200k');
    expect(asked).toHaveLength(20);
    const next = parseModelRequest('chat', {
      model: 'gpt-4o',
      messages: [...history, { role: 'user', content: 'and one more' }],
    });
    const n2 = counter.count(next.texts, 'o200k');
    expect(asked).toHaveLength(21);
    expect(asked.at(-1)).toBe('and one more');
    expect(n2).toBe(n1 + 'and one more'.length);
    expect(counter.memoSize).toBe(21);
  });

  it('the memo is bounded and per instance (least recently used dropped)', () => {
    const asked: string[] = [];
    const o200k = (t: string) => {
      asked.push(t);
      return t.length;
    };
    const counter = createTokenCounter({ o200k, maxEntries: 2 });
    counter.count(['a1', 'b2'], 'o200k');
    counter.count(['a1'], 'o200k'); // hit: a1 is now the most recent
    counter.count(['c3'], 'o200k'); // drops b2
    expect(counter.memoSize).toBe(2);
    counter.count(['a1', 'b2'], 'o200k');
    expect(asked).toEqual(['a1', 'b2', 'c3', 'b2']);
    const other = createTokenCounter({ o200k });
    other.count(['a1'], 'o200k');
    expect(asked.at(-1)).toBe('a1');
  });

  it('gpt-tokenizer’s o200k: exact counts, special-token text counted as text', async () => {
    const o200k = await loadO200k();
    expect(o200k('hello world')).toBe(2);
    expect(o200k('hi <|endoftext|> there')).toBeGreaterThan(3);
  });
});
