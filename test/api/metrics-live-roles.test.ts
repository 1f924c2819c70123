/**
 * The role label follows the policy in force (src/metrics/metrics.ts): a role
 * added at runtime is its own label at once, in the counters and the scrape's
 * gauges, with its spend series at 0 from the next scrape; a role taken away
 * is `other` again. Embedded, no store: a change applies in this process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { createMetrics, type Metrics, OTHER_ROLE } from '../../src/metrics/index.js';
import { parse, type Sample, value } from '../support/prom-text.js';

const AUDITOR = {
  roles: {
    auditor: { session_token_limit: 10_000, daily_cost_limit: 1, permissions: ['read_file'] },
  },
};

describe('the role label follows the policy in force', () => {
  let tg: Tollgate;
  let m: Metrics;
  const scrape = async (): Promise<Sample[]> => parse(await m.scrape());
  const decide = (role: string) =>
    m.decision({ allowed: true, code: null, role, replayed: false }, 0.001);
  const decisions = (s: Sample[], role: string) =>
    value(s, 'tollgate_decisions_total', { outcome: 'allowed', code: 'none', role });

  beforeAll(async () => {
    tg = await createTollgate({ sweep: false, alerts: false });
    m = createMetrics({ tollgate: tg, defaultMetrics: false });
  });
  afterAll(() => tg.close());

  it('a role the policy does not name yet is other', async () => {
    decide('auditor');
    m.spent({ role: 'auditor', costMicros: 250_000, inputTokens: 10, outputTokens: 5 });
    const s = await scrape();
    expect(decisions(s, OTHER_ROLE)).toBe(1);
    expect(decisions(s, 'auditor')).toBeUndefined();
    expect(value(s, 'tollgate_role_spend_usd_total', { role: OTHER_ROLE })).toBeCloseTo(0.25, 12);
    expect(s.some((x) => x.labels.role === 'auditor')).toBe(false);
  });

  it('added at runtime: its own label at once, its series present at the next scrape', async () => {
    const r = await tg.policies.set(AUDITOR, { actor: 'test' });
    expect(r.changed).toBe(true);
    let s = await scrape();
    // Present at 0 before anything is counted under it.
    expect(value(s, 'tollgate_role_spend_usd_total', { role: 'auditor' })).toBe(0);
    expect(value(s, 'tollgate_role_tokens_total', { role: 'auditor', kind: 'input' })).toBe(0);
    expect(value(s, 'tollgate_agents', { role: 'auditor', status: 'active' })).toBe(0);

    await tg.identity.registerAgent('aud-1', 'auditor');
    decide('auditor');
    m.spent({ role: 'auditor', costMicros: 500_000, inputTokens: 20, outputTokens: 7 });
    m.settled({ role: 'auditor', overrunTokens: 3, overrunMicros: 0 });
    s = await scrape();
    expect(decisions(s, 'auditor')).toBe(1);
    expect(decisions(s, OTHER_ROLE)).toBe(1);
    expect(value(s, 'tollgate_role_spend_usd_total', { role: 'auditor' })).toBeCloseTo(0.5, 12);
    expect(value(s, 'tollgate_role_tokens_total', { role: 'auditor', kind: 'output' })).toBe(7);
    expect(value(s, 'tollgate_overrun_tokens_total', { role: 'auditor' })).toBe(3);
    expect(value(s, 'tollgate_agents', { role: 'auditor', status: 'active' })).toBe(1);
  });

  it('taken away: other again (the agent too), and still bounded', async () => {
    await tg.policies.set({}, { actor: 'test' });
    expect(tg.policy.knownRoles()).not.toContain('auditor');
    decide('auditor');
    const s = await scrape();
    expect(decisions(s, OTHER_ROLE)).toBe(2);
    // The counter already counted under `auditor` keeps its value; nothing new goes there.
    expect(decisions(s, 'auditor')).toBe(1);
    expect(value(s, 'tollgate_agents', { role: OTHER_ROLE, status: 'active' })).toBe(1);
    expect(value(s, 'tollgate_agents', { role: 'auditor', status: 'active' })).toBeUndefined();
    decide('anything-else');
    const after = await scrape();
    expect(decisions(after, OTHER_ROLE)).toBe(3);
    expect(after.some((x) => x.labels.role === 'anything-else')).toBe(false);
  });
});
