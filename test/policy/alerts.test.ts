/**
 * Alert thresholds in the policy (docs/policy.md; docs/operations.md,
 * "Alerts"): `alerts.thresholds` checked with every other problem at once,
 * merged as a whole section, the defaults when absent; the library passes
 * the thresholds in force to every settle and recorded usage, so a change
 * at runtime applies to the next crossing (MemoryEngine, no store).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { alertThresholds } from '../../src/engine/alerts.js';
import { createPolicy, createTollgate, type Tollgate } from '../../src/index.js';
import { DEFAULT_ALERT_THRESHOLDS } from '../../src/policy/defaults.js';
import { issuesOf } from '../support/policy-issues.js';

const open: Tollgate[] = [];
afterEach(async () => {
  for (const tg of open.splice(0)) await tg.close();
});

describe('alert thresholds in the policy', () => {
  it('the defaults when absent (or without thresholds); a list given replaces them', () => {
    expect(DEFAULT_ALERT_THRESHOLDS).toEqual([50, 80, 100]);
    for (const p of [createPolicy(), createPolicy({ alerts: {} })]) {
      expect(p.alerts).toEqual({ pcts: [50, 80, 100], min: '50', text: '50,80,100' });
    }
    const p = createPolicy({ alerts: { thresholds: [25, 90, 1000] } });
    expect(p.alerts).toEqual({ pcts: [25, 90, 1000], min: '25', text: '25,90,1000' });
    expect(p.doc.alerts).toEqual({ thresholds: [25, 90, 1000] });
    // An empty list: no alerts.
    expect(createPolicy({ alerts: { thresholds: [] } }).alerts).toMatchObject({
      min: '',
      text: '',
    });
  });

  it('every problem at once, beside the others of the policy', () => {
    const issues = issuesOf(() =>
      createPolicy({
        alerts: { thresholds: [80, 50, 0, 1001, 12.5, 'x'], every: 5 },
        reservation_lease_seconds: 0,
        roles: { coder: { session_token_limit: -1 } },
      }),
    );
    for (const expected of [
      'alerts.thresholds[2]: expected an integer percentage from 1 to 1000',
      'alerts.thresholds[3]: expected an integer percentage from 1 to 1000',
      'alerts.thresholds[4]: expected an integer percentage from 1 to 1000',
      'alerts.thresholds[5]: expected an integer percentage from 1 to 1000',
      'alerts.every: unknown key (allowed: thresholds)',
      'reservation_lease_seconds: expected an integer number of seconds',
      'roles.coder.session_token_limit: expected a positive integer',
    ]) {
      expect(
        issues.some((i) => i.startsWith(expected)),
        `${expected}\n${issues.join('\n')}`,
      ).toBe(true);
    }
    // Out of order (once every value is a percentage), too many, not a list.
    expect(issuesOf(() => createPolicy({ alerts: { thresholds: [80, 50, 50] } }))).toEqual([
      "alerts.thresholds[1]: expected thresholds in increasing order: above the previous one's 80",
      "alerts.thresholds[2]: expected thresholds in increasing order: above the previous one's 50",
    ]);
    const eleven = Array.from({ length: 11 }, (_, i) => 10 * (i + 1));
    expect(issuesOf(() => createPolicy({ alerts: { thresholds: eleven } }))).toEqual([
      'alerts.thresholds: expected at most 10 thresholds',
    ]);
    expect(issuesOf(() => createPolicy({ alerts: { thresholds: '50,80' } }))[0]).toMatch(
      /^alerts\.thresholds: expected a list of percentages/,
    );
    expect(issuesOf(() => createPolicy({ alerts: [50] }))[0]).toMatch(
      /^alerts: expected a mapping/,
    );
  });

  it('the engine refuses a list the policy would refuse', () => {
    for (const bad of [[0], [50, 50], [1001], Array.from({ length: 11 }, (_, i) => i + 1)]) {
      let code = '';
      try {
        alertThresholds(bad);
      } catch (e) {
        code = (e as { code: string }).code;
      }
      expect(code, JSON.stringify(bad)).toBe('VALIDATION_FAILED');
    }
  });

  it('the library fires at the policy’s thresholds, and at the new ones after a change', async () => {
    const doc = (thresholds: number[]) => ({
      alerts: { thresholds },
      // 1 µ$ per token; a pool of $1 a day; agents whose own budgets stay far below.
      models: { default: { input_per_million: 1, output_per_million: 1 } },
      roles: { coder: { session_token_limit: 1_000_000_000, daily_cost_limit: 1000 } },
      pools: { team: { daily_cost_limit: 1 } },
    });
    const tg = await createTollgate({ sweep: false, policy: doc([25, 90]) });
    open.push(tg);
    await tg.identity.registerAgent('al-1', 'coder');
    await tg.identity.moveAgent('al-1', 'team');
    const fired = async () =>
      (await tg.engine.readOutbox())
        .filter((e) => e.fields.type === 'budget_alert')
        .map((e) => `${e.fields.pool_id || e.fields.agent_id}:${e.fields.threshold_pct}`);

    await tg.budget.deductBudget('al-1', 300_000, 0); // 30 %
    const r = await tg.guard.checkPermission('al-1', 'read_file', { estimatedTokens: 1_000 });
    if (!r.allowed) throw new Error(`denied: ${r.error_code}`);
    await tg.guard.recordOperation(
      'al-1',
      'read_file',
      { inputTokens: 300_000 },
      'success',
      r.reservation_id,
    );
    expect(await fired()).toEqual(['team:25']); // 60 %: no 50 % alert

    await tg.policies.set(doc([70]), { actor: 'ops@example' });
    expect(tg.policy.alerts.text).toBe('70');
    await tg.budget.deductBudget('al-1', 150_000, 0); // 75 %
    expect(await fired()).toEqual(['team:25', 'team:70']);
  });
});
