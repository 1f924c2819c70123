import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import {
  anthropicUsage,
  chatUsage,
  createPriceTable,
  responsesUsage,
  type Usage,
  usageCostMicros,
  usageFromBody,
} from '../../src/models/index.js';

const table = createPriceTable({ defaultModel: 'gpt-4o' });
const gpt4o = table.lookup('gpt-4o', { provider: 'openai' }).price;
const sonnet = table.lookup('claude-sonnet-4-20250514', { provider: 'anthropic' }).price;

describe('OpenAI usage: cached tokens inside the input, reasoning inside the output', () => {
  const chat = {
    prompt_tokens: 1000,
    completion_tokens: 200,
    total_tokens: 1200,
    prompt_tokens_details: { cached_tokens: 800, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 150 },
  };

  it('chat completions', () => {
    expect(chatUsage(chat)).toEqual<Usage>({
      inputTokens: 1000,
      outputTokens: 200,
      cacheReadTokens: 800,
      cacheWriteTokens: 0,
      reasoningTokens: 150,
    });
  });

  it('responses API', () => {
    expect(
      responsesUsage({
        input_tokens: 1000,
        input_tokens_details: { cached_tokens: 800 },
        output_tokens: 200,
        output_tokens_details: { reasoning_tokens: 150 },
        total_tokens: 1200,
      }),
    ).toEqual(chatUsage(chat));
  });

  it('no token counted twice: 200 uncached + 800 cached + 200 output', () => {
    const u = chatUsage(chat) as Usage;
    // $2.50, $1.25 and $10 per million tokens.
    expect(usageCostMicros(u, gpt4o)).toBe(200 * 2.5 + 800 * 1.25 + 200 * 10);
    const pkg = calcPrice(
      { input_tokens: 1000, cache_read_tokens: 800, output_tokens: 200 },
      'gpt-4o',
      {
        providerId: 'openai',
      },
    );
    expect(usageCostMicros(u, gpt4o)).toBeCloseTo((pkg?.total_price ?? 0) * 1e6, 6);
  });
});

describe('Anthropic usage: input, cache reads and cache writes add up', () => {
  const usage = {
    input_tokens: 100,
    cache_read_input_tokens: 800,
    cache_creation_input_tokens: 100,
    cache_creation: { ephemeral_5m_input_tokens: 60, ephemeral_1h_input_tokens: 40 },
    output_tokens: 50,
  };

  it('normalized: the input total includes both cache counts', () => {
    expect(anthropicUsage(usage)).toEqual<Usage>({
      inputTokens: 1000,
      outputTokens: 50,
      cacheReadTokens: 800,
      cacheWriteTokens: 100,
      cacheWrite1hTokens: 40,
    });
  });

  it('no token counted twice, each at its rate', () => {
    const u = anthropicUsage(usage) as Usage;
    // $3 input, $0.30 cache read, $3.75 5-minute write, $6 one-hour write, $15 output.
    expect(usageCostMicros(u, sonnet)).toBe(100 * 3 + 800 * 0.3 + 60 * 3.75 + 40 * 6 + 50 * 15);
    const pkg = calcPrice(
      {
        input_tokens: 1000,
        cache_read_tokens: 800,
        cache_write_tokens: 100,
        cache_write_1h_tokens: 40,
        output_tokens: 50,
      },
      'claude-sonnet-4-20250514',
      { providerId: 'anthropic' },
    );
    expect(usageCostMicros(u, sonnet)).toBeCloseTo((pkg?.total_price ?? 0) * 1e6, 6);
  });
});

describe('malformed usage', () => {
  it('no counts: undefined (the caller settles an estimate)', () => {
    expect(chatUsage(undefined)).toBeUndefined();
    expect(chatUsage(null)).toBeUndefined();
    expect(chatUsage({})).toBeUndefined();
    expect(responsesUsage({ input_tokens: 'many' })).toBeUndefined();
    expect(anthropicUsage({ output_tokens: -1 })).toBeUndefined();
  });

  it('a missing total is 0; parts never exceed their totals', () => {
    expect(chatUsage({ completion_tokens: 5 })).toEqual({
      inputTokens: 0,
      outputTokens: 5,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(
      chatUsage({
        prompt_tokens: 10,
        completion_tokens: 5,
        prompt_tokens_details: { cached_tokens: 50 },
        completion_tokens_details: { reasoning_tokens: 9 },
      }),
    ).toMatchObject({ cacheReadTokens: 10, reasoningTokens: 5 });
  });

  it('usageFromBody reads a non-streamed response of each API', () => {
    expect(
      usageFromBody('chat', { usage: { prompt_tokens: 3, completion_tokens: 4 } }),
    ).toMatchObject({
      inputTokens: 3,
      outputTokens: 4,
    });
    expect(
      usageFromBody('responses', { usage: { input_tokens: 3, output_tokens: 4 } }),
    ).toMatchObject({
      inputTokens: 3,
      outputTokens: 4,
    });
    expect(
      usageFromBody('messages', {
        usage: { input_tokens: 3, cache_read_input_tokens: 2, output_tokens: 4 },
      }),
    ).toMatchObject({ inputTokens: 5, cacheReadTokens: 2, outputTokens: 4 });
    expect(usageFromBody('chat', { error: { message: 'x' } })).toBeUndefined();
  });
});
