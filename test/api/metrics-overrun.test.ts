/**
 * The overrun counters of GET /metrics: tokens and USD settled above their
 * holds, by role, counted once per recorded settle (POST /v1/settle calls the
 * recorder's settled(); a replayed settle counts nothing again).
 */
import { describe, expect, it } from 'vitest';
import { createTollgate, MemoryEngine } from '../../src/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { type Api, startApi } from './harness.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (comments skipped). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparsed line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = l[2] as string;
    }
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name and these labels (undefined: none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}) {
  const hits = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${hits.length} samples`);
  return hits[0]?.value;
}

async function scrape(api: Api): Promise<Sample[]> {
  const r = await api.call('GET', '/metrics');
  expect(r.status).toBe(200);
  return parse(r.text);
}

describe('overrun metrics', () => {
  it('counts settle overruns by role: tokens and USD above the holds, a replay not again', async () => {
    const api = await startApi({ app: { metrics: { defaultMetrics: false } } });
    try {
      const coder = await api.agent('coder');
      const tester = await api.agent('tester');
      const settle = async (
        who: { id: string; key: string },
        estimate: number,
        input: number,
        output: number,
      ) => {
        const d = await api.call('POST', '/v1/authorize', {
          token: who.key,
          body: { agent_id: who.id, operation: 'read_file', estimated_tokens: estimate },
        });
        expect(d.body.allowed).toBe(true);
        const body = {
          reservation_id: d.body.reservation_id,
          input_tokens: input,
          output_tokens: output,
          result: 'success',
        };
        const r = await api.call('POST', '/v1/settle', { token: who.key, body });
        expect(r.status, r.text).toBe(200);
        return { ...r.body, again: () => api.call('POST', '/v1/settle', { token: who.key, body }) };
      };
      const within = await settle(coder, 1000, 100, 100);
      expect(within.overrun_tokens).toBe(0);
      const over = await settle(coder, 100, 300, 100); // 300 over
      const over2 = await settle(coder, 50, 50, 50); // 50 over
      const t = await settle(tester, 10, 10, 20); // 20 over
      expect([over.overrun_tokens, over2.overrun_tokens, t.overrun_tokens]).toEqual([300, 50, 20]);
      // The same settle again: already_closed, nothing counted twice.
      expect((await over.again()).body.outcome).toBe('already_closed');
      const s = await scrape(api);
      expect(value(s, 'tollgate_overrun_tokens_total', { role: 'coder' })).toBe(350);
      expect(value(s, 'tollgate_overrun_tokens_total', { role: 'tester' })).toBe(20);
      expect(value(s, 'tollgate_overrun_cost_usd_total', { role: 'coder' })).toBeCloseTo(
        over.overrun_cost + over2.overrun_cost,
        9,
      );
      expect(value(s, 'tollgate_overrun_cost_usd_total', { role: 'tester' })).toBeCloseTo(
        t.overrun_cost,
        9,
      );
      expect(over.overrun_cost).toBeGreaterThan(0);
    } finally {
      await api.close();
    }
  });

  it('settled(): the recorder counts overruns by role label (unknown roles as other)', async () => {
    const tg = await createTollgate({ engine: new MemoryEngine(), sweep: false });
    try {
      const m = createMetrics({ tollgate: tg, defaultMetrics: false });
      m.settled({ role: 'coder', overrunTokens: 0, overrunMicros: 0 });
      m.settled({ role: 'coder', overrunTokens: 120, overrunMicros: 1_500 });
      m.settled({ role: 'no-such-role', overrunTokens: 7, overrunMicros: 250_000 });
      const s = parse(await m.scrape());
      expect(value(s, 'tollgate_overrun_tokens_total', { role: 'coder' })).toBe(120);
      expect(value(s, 'tollgate_overrun_cost_usd_total', { role: 'coder' })).toBeCloseTo(
        0.0015,
        12,
      );
      expect(value(s, 'tollgate_overrun_tokens_total', { role: 'other' })).toBe(7);
      expect(value(s, 'tollgate_overrun_cost_usd_total', { role: 'other' })).toBeCloseTo(0.25, 12);
      expect(s.some((x) => x.labels.role === 'no-such-role')).toBe(false);
      // The embedded engine's sweep timer is off here: no sweep series.
      expect(s.some((x) => x.name.startsWith('tollgate_sweep_'))).toBe(false);
    } finally {
      await tg.close();
    }
  });
});
