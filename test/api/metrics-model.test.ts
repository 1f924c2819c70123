/**
 * The model spend counters (src/metrics/model-spend.ts): what `modelCall`
 * counts, by model and kind of token, and the bound on the model label: the
 * price table's id for a model it knows, `other` for any other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { createMetrics, OTHER_MODEL } from '../../src/metrics/index.js';

describe('tollgate_model_spend_usd_total and tollgate_model_tokens_total', () => {
  let tg: Tollgate;
  beforeAll(async () => {
    tg = await createTollgate();
  });
  afterAll(async () => {
    await tg.close();
  });

  async function values(m: ReturnType<typeof createMetrics>, name: string) {
    const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
    return (metric?.values ?? []).map((v) => ({ labels: v.labels, value: v.value }));
  }

  it('counts each call’s cost (USD) and its tokens by kind, per model', async () => {
    const m = createMetrics({ tollgate: tg, defaultMetrics: false });
    m.modelCall({
      model: 'gpt-4o',
      costMicros: 1_250_000,
      usage: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 600, cacheWriteTokens: 0 },
    });
    m.modelCall({
      model: 'gpt-4o',
      costMicros: 250_000,
      usage: { inputTokens: 10, outputTokens: 5 },
    });
    m.modelCall({
      model: 'claude-x',
      costMicros: 7,
      usage: { inputTokens: 1, outputTokens: 1, cacheWriteTokens: 1 },
    });
    // claude-x: a model the price table does not know.
    expect(await values(m, 'tollgate_model_spend_usd_total')).toEqual([
      { labels: { model: 'gpt-4o' }, value: 1.5 },
      { labels: { model: OTHER_MODEL }, value: 0.000007 },
    ]);
    const tokens = await values(m, 'tollgate_model_tokens_total');
    const of = (model: string, kind: string) =>
      tokens.find((t) => t.labels.model === model && t.labels.kind === kind)?.value;
    expect([of('gpt-4o', 'input'), of('gpt-4o', 'output'), of('gpt-4o', 'cache_read')]).toEqual([
      1010, 205, 600,
    ]);
    expect(of('gpt-4o', 'cache_write')).toBe(0);
    expect(of(OTHER_MODEL, 'cache_write')).toBe(1);
    const text = await m.scrape();
    expect(text).toContain('tollgate_model_spend_usd_total{model="gpt-4o"} 1.5');
  });

  it(`labels a model by the price table's id for it; every model it does not know is "${OTHER_MODEL}"`, async () => {
    const m = createMetrics({ tollgate: tg, defaultMetrics: false });
    const usage = { inputTokens: 1, outputTokens: 1 };
    // 250 names nobody prices: one series, whatever callers send.
    for (let i = 0; i < 250; i++) {
      m.modelCall({ model: `m-${i}`, costMicros: 1_000_000, usage });
    }
    // A dated name counts under the table's id for it.
    m.modelCall({ model: 'gpt-4o-2024-08-06', costMicros: 1_000_000, usage });
    m.modelCall({ model: 'gpt-4o', costMicros: 1_000_000, usage });
    const spend = await values(m, 'tollgate_model_spend_usd_total');
    expect(spend).toEqual([
      { labels: { model: OTHER_MODEL }, value: 250 },
      { labels: { model: 'gpt-4o' }, value: 2 },
    ]);
  });
});
