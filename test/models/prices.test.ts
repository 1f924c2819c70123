import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { createPriceTable, type TokenRates, usageCostMicros } from '../../src/models/index.js';

const table = createPriceTable({
  overrides: { default: { inputMicrosPerMillion: 3_000_000, outputMicrosPerMillion: 15_000_000 } },
  defaultModel: 'default',
});

/** The package's own USD-per-million figure for a key, as micro-dollars per million. */
function packageRate(model: string, provider: string, key: string): number {
  const v = calcPrice({}, model, { providerId: provider })?.model_price[key];
  if (typeof v !== 'number') throw new Error(`no flat ${key} for ${model}`);
  return Math.round(v * 1e6);
}

describe('prices from @pydantic/genai-prices', () => {
  it('gpt-4o: input, cache read and output from the package; no cache write rate, so the input rate', () => {
    const p = table.lookup('gpt-4o', { provider: 'openai' });
    expect(p).toMatchObject({
      model: 'gpt-4o',
      pricedAs: 'gpt-4o',
      source: 'table',
      unknown: false,
    });
    expect(p.price.rates).toEqual<TokenRates>({
      inputMicrosPerMillion: packageRate('gpt-4o', 'openai', 'input_mtok'),
      outputMicrosPerMillion: packageRate('gpt-4o', 'openai', 'output_mtok'),
      cacheReadMicrosPerMillion: packageRate('gpt-4o', 'openai', 'cache_read_mtok'),
      cacheWriteMicrosPerMillion: packageRate('gpt-4o', 'openai', 'input_mtok'),
      cacheWrite1hMicrosPerMillion: packageRate('gpt-4o', 'openai', 'input_mtok'),
    });
    expect(p.price.rates.inputMicrosPerMillion).toBe(2_500_000);
    expect(p.price.tiers).toEqual([]);
  });

  it('claude-sonnet-4 (dated id): cache read, cache write and one-hour cache write rates', () => {
    const id = 'claude-sonnet-4-20250514';
    const p = table.lookup(id, { provider: 'anthropic' });
    expect(p.pricedAs).toBe('claude-sonnet-4-0');
    expect(p.price.rates).toEqual<TokenRates>({
      inputMicrosPerMillion: packageRate(id, 'anthropic', 'input_mtok'),
      outputMicrosPerMillion: packageRate(id, 'anthropic', 'output_mtok'),
      cacheReadMicrosPerMillion: packageRate(id, 'anthropic', 'cache_read_mtok'),
      cacheWriteMicrosPerMillion: packageRate(id, 'anthropic', 'cache_write_mtok'),
      cacheWrite1hMicrosPerMillion: packageRate(id, 'anthropic', 'cache_write_1h_mtok'),
    });
    expect(p.price.rates.cacheWriteMicrosPerMillion).toBe(3_750_000);
  });

  it('finds a model under its own provider when the hint names another', () => {
    expect(table.lookup('claude-sonnet-4-5', { provider: 'openai' }).pricedAs).toBe(
      'claude-sonnet-4-5',
    );
    expect(table.lookup('gpt-4o-2024-08-06').pricedAs).toBe('gpt-4o');
  });

  it('tiers: every rate switches once the call has more input tokens than the tier start', () => {
    const p = table.lookup('claude-sonnet-4-5', { provider: 'anthropic' });
    expect(p.price.tiers).toHaveLength(1);
    expect(p.price.tiers[0]).toMatchObject({
      aboveInputTokens: 200_000,
      inputMicrosPerMillion: 6_000_000,
      outputMicrosPerMillion: 22_500_000,
      cacheReadMicrosPerMillion: 600_000,
      cacheWriteMicrosPerMillion: 7_500_000,
    });
    const at = (inputTokens: number) =>
      usageCostMicros(
        { inputTokens, outputTokens: 1000, cacheReadTokens: 0, cacheWriteTokens: 0 },
        p.price,
      );
    expect(at(200_000)).toBe(200_000 * 3 + 1000 * 15);
    expect(at(200_001)).toBe(Math.ceil(200_001 * 6 + 1000 * 22.5));
  });

  it('matches the package on the cost of calls, tiers and cache tokens included (to one micro-dollar, never under)', () => {
    const cases: [string, string, Record<string, number>][] = [
      ['gpt-4o', 'openai', { input_tokens: 12_345, cache_read_tokens: 4_000, output_tokens: 777 }],
      ['gpt-4.1-mini', 'openai', { input_tokens: 1, output_tokens: 1 }],
      [
        'gemini-2.5-pro',
        'google',
        { input_tokens: 250_000, cache_read_tokens: 100_000, output_tokens: 3_000 },
      ],
      [
        'claude-sonnet-4-5',
        'anthropic',
        {
          input_tokens: 300_000,
          cache_read_tokens: 200_000,
          cache_write_tokens: 50_000,
          output_tokens: 9_999,
        },
      ],
      [
        'claude-opus-4-1',
        'anthropic',
        {
          input_tokens: 5_000,
          cache_read_tokens: 1_000,
          cache_write_tokens: 3_000,
          cache_write_1h_tokens: 1_000,
          output_tokens: 321,
        },
      ],
    ];
    for (const [model, provider, u] of cases) {
      const expected =
        (calcPrice(u, model, { providerId: provider })?.total_price ?? Number.NaN) * 1e6;
      const ours = usageCostMicros(
        {
          inputTokens: u.input_tokens ?? 0,
          outputTokens: u.output_tokens ?? 0,
          cacheReadTokens: u.cache_read_tokens ?? 0,
          cacheWriteTokens: u.cache_write_tokens ?? 0,
          cacheWrite1hTokens: u.cache_write_1h_tokens,
        },
        table.lookup(model, { provider }).price,
      );
      expect(ours, model).toBeGreaterThanOrEqual(expected - 1e-6);
      expect(ours, model).toBeLessThan(expected + 1);
    }
  });

  it('prices that change by date or by hour: the one in force at the time asked', () => {
    const times = ['2025-01-01T10:00:00Z', '2025-07-01T10:00:00Z', '2025-07-01T20:00:00Z'];
    for (const [model, provider] of [
      ['o3', 'openai'],
      ['deepseek-chat', 'deepseek'],
    ] as const) {
      for (const t of times) {
        const pkg = calcPrice({}, model, { providerId: provider, timestamp: new Date(t) });
        const ours = table.lookup(model, { provider, atMs: Date.parse(t) }).price.rates;
        expect(ours.inputMicrosPerMillion, `${model} ${t}`).toBe(
          Math.round(Number(pkg?.model_price.input_mtok) * 1e6),
        );
        expect(ours.outputMicrosPerMillion, `${model} ${t}`).toBe(
          Math.round(Number(pkg?.model_price.output_mtok) * 1e6),
        );
      }
    }
    const day = table.lookup('deepseek-chat', { atMs: Date.parse('2025-07-01T10:00:00Z') });
    const night = table.lookup('deepseek-chat', { atMs: Date.parse('2025-07-01T20:00:00Z') });
    expect(day.price.rates.inputMicrosPerMillion).not.toBe(night.price.rates.inputMicrosPerMillion);
  });
});

describe('unknown models and overrides', () => {
  it('a model no one knows is priced at the default model and flagged, never at $0', () => {
    const p = table.lookup('my-local-llama', { provider: 'openai' });
    expect(p).toMatchObject({
      model: 'my-local-llama',
      pricedAs: 'default',
      source: 'default',
      unknown: true,
    });
    expect(p.price.rates.inputMicrosPerMillion).toBe(3_000_000);
    expect(
      usageCostMicros(
        { inputTokens: 1, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
        p.price,
      ),
    ).toBeGreaterThan(0);
  });

  it('the default model may be one the package knows', () => {
    const t = createPriceTable({ defaultModel: 'gpt-4o' });
    expect(t.lookup('nope')).toMatchObject({ pricedAs: 'gpt-4o', unknown: true });
  });

  it('a default model with no price is refused at creation', () => {
    expect(() => createPriceTable({ defaultModel: 'no-such-model' })).toThrow(/default model/);
  });

  it('an override is the whole price of its model: missing cache rates are its input rate', () => {
    const t = createPriceTable({
      overrides: {
        'gpt-4o': { inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 2_000_000 },
        house: {
          inputMicrosPerMillion: 1,
          outputMicrosPerMillion: 2,
          cacheWriteMicrosPerMillion: 5,
          tiers: [{ aboveInputTokens: 10, inputMicrosPerMillion: 7, outputMicrosPerMillion: 8 }],
        },
      },
      defaultModel: 'house',
    });
    expect(t.lookup('gpt-4o')).toMatchObject({
      source: 'override',
      pricedAs: 'gpt-4o',
      unknown: false,
    });
    expect(t.lookup('gpt-4o').price.rates).toEqual({
      inputMicrosPerMillion: 1_000_000,
      outputMicrosPerMillion: 2_000_000,
      cacheReadMicrosPerMillion: 1_000_000,
      cacheWriteMicrosPerMillion: 1_000_000,
      cacheWrite1hMicrosPerMillion: 1_000_000,
    });
    expect(t.lookup('house').price.rates.cacheWrite1hMicrosPerMillion).toBe(5);
    expect(t.lookup('house').price.tiers[0]).toMatchObject({
      aboveInputTokens: 10,
      inputMicrosPerMillion: 7,
    });
  });

  it('refuses overrides that are not non-negative integers', () => {
    const bad = (o: object) =>
      createPriceTable({ overrides: { m: o as never }, defaultModel: 'm' });
    expect(() => bad({ inputMicrosPerMillion: 1.5, outputMicrosPerMillion: 1 })).toThrow(
      /inputMicrosPerMillion/,
    );
    expect(() => bad({ inputMicrosPerMillion: 1 })).toThrow(/outputMicrosPerMillion/);
    expect(() =>
      bad({ inputMicrosPerMillion: 1, outputMicrosPerMillion: 1, cacheReadMicrosPerMillion: -1 }),
    ).toThrow();
    expect(() =>
      bad({
        inputMicrosPerMillion: 1,
        outputMicrosPerMillion: 1,
        tiers: [
          { aboveInputTokens: 10, inputMicrosPerMillion: 1, outputMicrosPerMillion: 1 },
          { aboveInputTokens: 5, inputMicrosPerMillion: 1, outputMicrosPerMillion: 1 },
        ],
      }),
    ).toThrow(/aboveInputTokens/);
  });
});

describe('cost', () => {
  const flat = {
    rates: {
      inputMicrosPerMillion: 2_500_000,
      outputMicrosPerMillion: 10_000_000,
      cacheReadMicrosPerMillion: 1_250_000,
      cacheWriteMicrosPerMillion: 3_125_000,
      cacheWrite1hMicrosPerMillion: 5_000_000,
    },
    tiers: [],
  };

  it('rounds up once over the whole sum', () => {
    // 1 token at $2.50 / M is 2.5 micro-dollars: 3. Two such tokens: exactly 5, not 3 + 3.
    expect(
      usageCostMicros(
        { inputTokens: 1, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
        flat,
      ),
    ).toBe(3);
    expect(
      usageCostMicros(
        { inputTokens: 2, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
        flat,
      ),
    ).toBe(5);
    expect(
      usageCostMicros(
        { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
        flat,
      ),
    ).toBe(0);
  });

  it('prices each token once, at its kind', () => {
    const u = {
      inputTokens: 1000,
      outputTokens: 100,
      cacheReadTokens: 600,
      cacheWriteTokens: 300,
      cacheWrite1hTokens: 100,
    };
    // 100 uncached × 2.5 + 600 × 1.25 + 200 × 3.125 + 100 × 5 + 100 × 10
    expect(usageCostMicros(u, flat)).toBe(250 + 750 + 625 + 500 + 1000);
  });

  it('exact on large counts (integer arithmetic)', () => {
    const u = {
      inputTokens: 2_000_000_000,
      outputTokens: 2_000_000_000,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    };
    expect(usageCostMicros(u, flat)).toBe(2_000_000_000 * 2.5 + 2_000_000_000 * 10);
  });

  it('refuses parts larger than their totals', () => {
    expect(() =>
      usageCostMicros(
        { inputTokens: 10, outputTokens: 0, cacheReadTokens: 8, cacheWriteTokens: 8 },
        flat,
      ),
    ).toThrow(RangeError);
    expect(() =>
      usageCostMicros(
        { inputTokens: -1, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
        flat,
      ),
    ).toThrow(RangeError);
  });
});
