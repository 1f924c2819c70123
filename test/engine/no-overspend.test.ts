/**
 * No overspend under concurrency: 8 separate connections x 2,000
 * authorize/settle pairs against one agent, random estimates, actual usage <=
 * estimate. Settled tokens and cost never pass the limits, exactly, and
 * nothing stays reserved.
 */
import { describe, expect, it } from 'vitest';
import { createTollgate } from '../../src/index.js';
import { createPolicy } from '../../src/policy/index.js';
import { ENGINE_KINDS, makeEngine, uid } from '../support/engines.js';

const WORKERS = 8;
const PAIRS = 2_000;
const SESSION_LIMIT = 400_000;
const DAILY_LIMIT_USD = 2.5;

function rand(max: number): number {
  return 1 + Math.floor(Math.random() * max);
}

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  it(`${WORKERS} connections x ${PAIRS} authorize/settle pairs never overspend`, {
    timeout: 240_000,
  }, async () => {
    const policy = createPolicy();
    const engines = await Promise.all(
      Array.from({ length: kind === 'memory' ? 1 : WORKERS }, () => makeEngine(kind)),
    );
    const tgs = await Promise.all(engines.map((e) => createTollgate({ engine: e.engine, policy })));
    const admin = tgs[0];
    if (!admin) throw new Error('no engine');
    const id = uid('hot');
    await admin.identity.registerAgent(
      id,
      'coder',
      {},
      { sessionTokenLimit: SESSION_LIMIT, dailyCostLimit: DAILY_LIMIT_USD },
    );

    let settledTokens = 0;
    let settledMicros = 0;
    let allowed = 0;
    let denied = { session: 0, daily: 0 };
    const worker = async (w: number) => {
      const tg = tgs[w % tgs.length];
      if (!tg) throw new Error('no engine');
      for (let i = 0; i < PAIRS; i++) {
        const estimate = rand(2_000);
        const model = i % 3 === 0 ? undefined : 'default';
        const d = await tg.guard.checkPermission(id, 'read_file', {
          estimatedTokens: estimate,
          model,
        });
        if (!d.allowed) {
          if (d.error_code !== 'BUDGET_EXCEEDED') throw new Error(`unexpected ${d.error_code}`);
          const k = d.exceeded === 'daily' ? 'daily' : 'session';
          denied = { ...denied, [k]: denied[k] + 1 };
          continue;
        }
        allowed++;
        const input = Math.floor(Math.random() * estimate);
        const output = Math.floor(Math.random() * (estimate - input + 1));
        const r = await tg.guard.recordOperation(
          id,
          'read_file',
          { inputTokens: input, outputTokens: output },
          'success',
          d.reservation_id,
        );
        expect(r.outcome).toBe('settled');
        settledTokens += input + output;
        settledMicros += Math.round(r.cost * 1_000_000);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));

    const s = await admin.budget.getBudgetStatus(id);
    expect(s).not.toBeNull();
    if (!s) return;
    expect(allowed).toBeGreaterThan(50);
    expect(denied.session + denied.daily).toBeGreaterThan(1000);
    expect(settledTokens).toBeLessThanOrEqual(SESSION_LIMIT);
    expect(settledMicros).toBeLessThanOrEqual(DAILY_LIMIT_USD * 1_000_000);
    expect(s.session.tokens_used).toBe(settledTokens);
    expect(Math.round(s.daily.cost_used * 1_000_000)).toBe(settledMicros);
    expect(s.session.tokens_reserved).toBe(0);
    expect(s.daily.cost_reserved).toBe(0);
    expect(s.operations_blocked).toBe(denied.session + denied.daily);
    await Promise.all(engines.map((e) => e.close()));
  });
});
