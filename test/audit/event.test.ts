import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, parseOutboxFields } from '../../src/audit/event.js';
import { createTollgate } from '../../src/index.js';
import { ENGINE_KINDS, makeEngine, uid } from '../support/engines.js';

describe.each(ENGINE_KINDS)('audit events from the %s engine', (kind) => {
  it('every event type the engine appends parses, with typed values', async () => {
    const ut = await makeEngine(kind);
    const tg = await createTollgate({ engine: ut.engine });
    const id = uid('ev');
    try {
      const rec = await tg.identity.registerAgent(id, 'coder', { team: 'a' });
      const d = await tg.guard.checkPermission(id, 'read_file', {
        estimatedTokens: 1000,
        requestId: 'r-1',
      });
      if (!d.allowed) throw new Error('denied');
      await tg.guard.recordOperation(
        id,
        'read_file',
        { inputTokens: 300, outputTokens: 200 },
        'success',
        d.reservation_id,
      );
      // A settle above its hold: 400 tokens on an estimate of 100.
      const d3 = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 100 });
      if (!d3.allowed) throw new Error('denied');
      await tg.guard.recordOperation(
        id,
        'read_file',
        { inputTokens: 300, outputTokens: 100 },
        'success',
        d3.reservation_id,
      );
      const d2 = await tg.guard.checkPermission(id, 'write_file');
      if (d2.allowed) await tg.guard.releaseReservation(d2.reservation_id);
      await tg.guard.checkPermission(id, 'deploy');
      await tg.budget.deductBudget(id, 10, 10);
      await tg.identity.endSession(rec.session_id);
      await tg.identity.suspendAgent(id);
      await tg.identity.resumeAgent(id);
      await tg.identity.rotateKey(id);
      await tg.budget.setLimits(id, { sessionTokenLimit: 5000 });
      // 3,000 of 5,000 tokens of the new session: the session's 50 % alert (budget_alert).
      await tg.budget.deductBudget(id, 2000, 1000);
      await tg.identity.setRole(id, 'tester');
      await tg.identity.deleteAgent(id);
      const events = (await ut.engine.readOutbox())
        .filter((e) => e.fields.agent_id === id)
        .map((e) => parseOutboxFields(e.fields));
      // Pool and move events: test/engine/pools.test.ts (they name pools, not this agent alone).
      const pools = ['pool_created', 'pool_updated', 'pool_deleted', 'agent_moved'];
      // policy_changed: written by the store with a policy version (test/api/policy-runtime.test.ts).
      const expected = EVENT_TYPES.filter((t) => t !== 'policy_changed' && !pools.includes(t));
      expect(new Set(events.map((e) => e.type))).toEqual(new Set(expected));
      const allowed = events.find((e) => e.type === 'decision' && e.allowed === true);
      expect(allowed).toMatchObject({
        v: 1,
        operation: 'read_file',
        estimated_tokens: 1000,
        cost: 15000,
        request_id: 'r-1',
        actor: 'library',
        session_utilization: 0,
      });
      const denied = events.find((e) => e.type === 'decision' && e.allowed === false);
      expect(denied).toMatchObject({ error_code: 'RBAC_DENIED', cost: 0, reservation_id: null });
      expect(events.find((e) => e.type === 'settle')).toMatchObject({
        input_tokens: 300,
        output_tokens: 200,
        cost: 3900,
        result: 'success',
        session_utilization: 0.62,
        overrun_tokens: 0, // always on a settle: '0' within the hold
        overrun_cost: 0,
      });
      const settles = events.filter((e) => e.type === 'settle');
      // 300 in at $3/M + 100 out at $15/M = 2,400 µ$ on a hold of 100 at $15/M = 1,500 µ$.
      expect(settles[1]).toMatchObject({
        input_tokens: 300,
        overrun_tokens: 300,
        overrun_cost: 900,
      });
      for (const e of events.filter((x) => x.type !== 'settle')) {
        expect(e.overrun_tokens, e.type).toBeNull();
        expect(e.overrun_cost, e.type).toBeNull();
      }
      const alert = events.find((e) => e.type === 'budget_alert');
      expect(alert).toMatchObject({ agent_id: id, session_id: null, allowed: null });
      expect(alert?.alert).toEqual({
        pool_id: '',
        budget: 'session',
        threshold_pct: 50,
        period: events.find((e) => e.type === 'limits_changed')?.session_id,
        used: 3000,
        limit: 5000,
      });
      expect(events.find((e) => e.type === 'session_ended')).toMatchObject({
        session_id: rec.session_id,
        tokens_used: 920,
        operations_blocked: 1,
      });
      const reg = events.find((e) => e.type === 'agent_registered');
      expect(reg?.state).toMatchObject({
        role: 'coder',
        status: 'active',
        session_token_limit: 80000,
        daily_cost_limit: 8_000_000,
        metadata: '{"team":"a"}',
      });
      expect(reg?.state?.key_digest).toMatch(/^[0-9a-f]{64}$/);
      for (const e of events) expect(e.at).toBeGreaterThan(1.7e12);
    } finally {
      await ut.close();
    }
  });

  it('refuses a malformed entry, naming the field', () => {
    expect(() =>
      parseOutboxFields({ event_id: 'x', at: '1', type: 'decision', agent_id: 'a' }),
    ).toThrow(/event_id/);
    expect(() =>
      parseOutboxFields({
        event_id: '01a21718-f580-71a0-87bf-ff7ab50cc300',
        at: '1',
        type: 'decision',
        agent_id: 'a',
        cost: '1.5',
      }),
    ).toThrow(/cost/);
    expect(() =>
      parseOutboxFields({
        event_id: '01a21718-f580-71a0-87bf-ff7ab50cc300',
        at: '1',
        type: 'nope',
        agent_id: 'a',
      }),
    ).toThrow(/type/);
  });
});
