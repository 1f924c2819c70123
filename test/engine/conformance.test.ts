/**
 * One conformance suite, three engines: every scenario runs on MemoryEngine,
 * on a private Redis and on a private 3-node Redis Cluster, with the same
 * expected results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextMidnight } from '../../src/engine/clock.js';
import { agentKeys, shardOf } from '../../src/engine/keys.js';
import { unpackEntry } from '../../src/engine/outbox-format.js';
import type { OutboxEntry } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import {
  agentKeyspace,
  ENGINE_KINDS,
  type EngineUnderTest,
  makeEngine,
  uid,
} from '../support/engines.js';
import { keySlot } from '../support/slot.js';

/**
 * The agent's outbox events, oldest first, each with the id of the stream
 * entry that holds it. Redis engines: read from the stream itself (a call's
 * events share one entry, see src/engine/outbox-format.ts); MemoryEngine: its
 * outbox (one entry per event).
 */
async function outboxOf(
  ut: EngineUnderTest,
  agentId: string,
): Promise<{ streamId: string; fields: OutboxEntry['fields'] }[]> {
  if (ut.raw === undefined) {
    return (await ut.engine.readOutbox())
      .filter((e) => e.fields.agent_id === agentId)
      .map(({ streamId, fields }) => ({ streamId, fields }));
  }
  const rows = await ut.raw.xrange(agentKeys(agentId, ut.engine.shards).outbox, '-', '+');
  return rows
    .flatMap(([streamId, flat]) => unpackEntry(flat).map((fields) => ({ streamId, fields })))
    .filter((e) => e.fields.agent_id === agentId);
}

async function eventsOf(ut: EngineUnderTest, agentId: string): Promise<OutboxEntry['fields'][]> {
  return (await outboxOf(ut, agentId)).map((e) => e.fields);
}

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let tg: Tollgate;

  beforeAll(async () => {
    // A small bound on the expired holds one call frees, so that the bound is seen at work.
    ut = await makeEngine(kind, { maxFreePerCall: 8 });
    tg = await createTollgate({ engine: ut.engine });
  });
  afterAll(async () => {
    await ut.close();
  });

  async function register(
    role = 'backend-dev',
    limits: { sessionTokenLimit?: number; dailyCostLimit?: number } = {},
  ) {
    const id = uid();
    const rec = await tg.identity.registerAgent(id, role, { team: 'qa' }, limits);
    return { id, rec };
  }

  it('registers an agent with the role budget and a first session', async () => {
    const { id, rec } = await register('coder');
    expect(rec).toMatchObject({
      agent_id: id,
      role: 'coder',
      status: 'active',
      permissions: ['read_file', 'write_file', 'run_tests', 'model_call'],
      metadata: { team: 'qa' },
    });
    expect(rec.api_key).toMatch(new RegExp(`^tg_${id}\\.[A-Za-z0-9_-]{43}$`));
    expect(rec.session_id.startsWith(`${id}.`)).toBe(true);
    const s = await tg.budget.getBudgetStatus(id);
    expect(s).toMatchObject({
      agent_id: id,
      role: 'coder',
      session: {
        tokens_used: 0,
        tokens_reserved: 0,
        tokens_limit: 80000,
        tokens_remaining: 80000,
        utilization_pct: 0,
      },
      daily: {
        cost_used: 0,
        cost_reserved: 0,
        cost_limit: 8,
        cost_remaining: 8,
        utilization_pct: 0,
      },
      operations_blocked: 0,
      is_session_exhausted: false,
      is_daily_exhausted: false,
    });
    expect(s?.daily.resets_at).toBe(
      new Date(nextMidnight(Date.parse(`${s?.daily.date}T00:00:00Z`))).toISOString(),
    );
    await expect(tg.identity.registerAgent(id, 'coder')).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const ev = await eventsOf(ut, id);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({
      type: 'agent_registered',
      role: 'coder',
      status: 'active',
      session_token_limit: '80000',
      daily_cost_limit: '8000000',
    });
    expect(ev[0]?.event_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('allows and holds the estimate, priced at the higher rate', async () => {
    const { id } = await register();
    const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 5000 });
    expect(d.allowed).toBe(true);
    if (!d.allowed) return;
    expect(d.reservation_id.startsWith(`${id}.`)).toBe(true);
    expect(Date.parse(d.expires_at) - Date.now()).toBeGreaterThan(290_000);
    expect(d.budget_status.session).toMatchObject({
      tokens_used: 0,
      tokens_reserved: 5000,
      tokens_remaining: 95000,
    });
    expect(d.budget_status.daily).toMatchObject({ cost_used: 0, cost_reserved: 0.075 });
    const ev = (await eventsOf(ut, id)).filter((e) => e.type === 'decision');
    expect(ev).toEqual([
      expect.objectContaining({
        allowed: '1',
        operation: 'read_file',
        estimated_tokens: '5000',
        cost: '75000',
        reservation_id: d.reservation_id,
        error_code: '',
        actor: 'library',
      }),
    ]);
  });

  describe('denials change nothing but the blocked counter and the outbox', () => {
    async function expectOnlyCounterAndEvent(id: string, deny: () => Promise<unknown>) {
      const before = await tg.budget.getBudgetStatus(id);
      const keysBefore = ut.raw ? await agentKeyspace(ut.raw, agentKeys(id, 16).agent) : {};
      const eventsBefore = (await eventsOf(ut, id)).length;
      await deny();
      const after = await tg.budget.getBudgetStatus(id);
      expect(after).toEqual({
        ...before,
        operations_blocked: (before?.operations_blocked ?? 0) + 1,
      });
      if (ut.raw) {
        // The denial's record under its nonce (so that a resend answers it): one field of
        // the agent hash and its member in the leases zset, scored as a tombstone (< 0).
        const keysAfter = await agentKeyspace(ut.raw, agentKeys(id, 16).agent);
        const { agent: agentKey, leases } = agentKeys(id, 16);
        const a = { ...(keysAfter[agentKey] as Record<string, string>) };
        const b = keysBefore[agentKey] as Record<string, string>;
        const added = Object.keys(a).filter((f) => !(f in b));
        expect(added).toEqual([expect.stringMatching(/^h:[0-9a-f]{16}$/)]);
        const record = added[0] as string;
        expect(a[record]?.startsWith('\x04\x1f')).toBe(true); // a denial's record
        delete a[record];
        const zAfter = [...(keysAfter[leases] as string[])];
        const at = zAfter.indexOf(record);
        expect(Number(zAfter[at + 1])).toBeLessThan(0);
        zAfter.splice(at, 2);
        expect({ ...keysAfter, [agentKey]: a, [leases]: zAfter }).toEqual({
          ...keysBefore,
          [agentKey]: { ...b, blocked: String(Number(b.blocked) + 1) },
        });
      }
      expect((await eventsOf(ut, id)).length).toBe(eventsBefore + 1);
    }

    it('RBAC_DENIED', async () => {
      const { id } = await register('backend-dev');
      await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 100 });
      await expectOnlyCounterAndEvent(id, async () => {
        const d = await tg.guard.checkPermission(id, 'unauthorized_op', { estimatedTokens: 1000 });
        expect(d).toMatchObject({
          allowed: false,
          error_code: 'RBAC_DENIED',
          reason: 'Role backend-dev not authorized for operation unauthorized_op',
        });
      });
    });

    it('AGENT_SUSPENDED', async () => {
      const { id } = await register('coder');
      await tg.identity.suspendAgent(id);
      await expectOnlyCounterAndEvent(id, async () => {
        const d = await tg.guard.checkPermission(id, 'read_file');
        expect(d).toMatchObject({ allowed: false, error_code: 'AGENT_SUSPENDED' });
      });
      await tg.identity.resumeAgent(id);
      expect((await tg.guard.checkPermission(id, 'read_file')).allowed).toBe(true);
    });

    it('BUDGET_EXCEEDED session, counting what is reserved', async () => {
      const { id } = await register('backend-dev');
      const held = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 60000 });
      expect(held.allowed).toBe(true);
      await expectOnlyCounterAndEvent(id, async () => {
        const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 40001 });
        expect(d).toMatchObject({
          allowed: false,
          error_code: 'BUDGET_EXCEEDED',
          exceeded: 'session',
          reason: 'Session token limit reached. Used: 0/100000',
          suggestion: 'Start a new session or increase session limit',
        });
      });
      expect(
        (await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 40000 })).allowed,
      ).toBe(true);
    });

    it('BUDGET_EXCEEDED daily', async () => {
      const { id } = await register('backend-dev', { dailyCostLimit: 0.5 });
      await tg.budget.deductBudget(id, 0, 30000); // $0.45
      await expectOnlyCounterAndEvent(id, async () => {
        const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 4000 }); // $0.06 hold
        expect(d).toMatchObject({
          allowed: false,
          error_code: 'BUDGET_EXCEEDED',
          exceeded: 'daily',
          reason: 'Daily cost limit reached. Used: $0.45/$0.50',
          suggestion: 'Wait for daily reset at midnight UTC or increase daily limit',
        });
      });
      expect(
        (await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 3333 })).allowed,
      ).toBe(true);
    });

    it('AGENT_NOT_FOUND writes nothing (no key, no event: nothing before authentication)', async () => {
      const id = uid('ghost');
      const d = await tg.guard.checkPermission(id, 'read_file');
      expect(d).toEqual({
        allowed: false,
        error_code: 'AGENT_NOT_FOUND',
        reason: 'Agent not found',
        model: 'default',
        replayed: false,
        budget_status: null,
      });
      if (ut.raw) expect(await agentKeyspace(ut.raw, agentKeys(id, 16).agent)).toEqual({});
      expect(await eventsOf(ut, id)).toEqual([]);
    });
  });

  it('refuses ids with {, }, : or over-long before the store', async () => {
    const { id } = await register();
    const before = ut.calls.length;
    for (const bad of ['a{b}', 'a}b', 'a:b', 'x'.repeat(65), '', 'a b', 'a.b']) {
      await expect(tg.guard.checkPermission(bad, 'read_file')).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      await expect(tg.identity.registerAgent(bad, 'coder')).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      await expect(tg.budget.getBudgetStatus(bad)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
    }
    await expect(
      tg.guard.checkPermission(id, 'read_file', { requestId: 'r{1}' }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      tg.guard.recordOperation(id, 'read_file', { inputTokens: 1 }, 'success', `${id}.zz`),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      tg.guard.checkPermission(id, 'read_file', { estimatedTokens: -1 }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 1.5 }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 20_000_000 }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(ut.calls.length).toBe(before);
  });

  it('settles: records actual usage priced per direction, frees the hold, once', async () => {
    const { id } = await register();
    const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 5000 });
    if (!d.allowed) throw new Error('denied');
    const r = await tg.guard.recordOperation(
      id,
      'read_file',
      { inputTokens: 4800, outputTokens: 15200 },
      'success',
      d.reservation_id,
    );
    expect(r).toMatchObject({
      success: true,
      outcome: 'settled',
      reservation_id: d.reservation_id,
      cost: 0.2424,
    });
    expect(r.budget_status.session).toMatchObject({ tokens_used: 20000, tokens_reserved: 0 });
    expect(r.budget_status.daily).toMatchObject({ cost_used: 0.2424, cost_reserved: 0 });
    const again = await tg.guard.recordOperation(
      id,
      'read_file',
      { inputTokens: 4800, outputTokens: 15200 },
      'success',
      d.reservation_id,
    );
    expect(again.outcome).toBe('already_closed');
    expect(again.budget_status).toEqual({ ...r.budget_status });
    const settles = (await eventsOf(ut, id)).filter((e) => e.type === 'settle');
    expect(settles).toEqual([
      expect.objectContaining({
        input_tokens: '4800',
        output_tokens: '15200',
        cost: '242400',
        reservation_id: d.reservation_id,
        result: 'success',
        session_utilization: '20.00',
      }),
    ]);
    await expect(
      tg.guard.recordOperation(
        id,
        'read_file',
        { inputTokens: 1 },
        'success',
        `${id}.0123456789abcdef`,
      ),
    ).rejects.toMatchObject({ code: 'RESERVATION_NOT_FOUND' });
  });

  it('usage past the limit is recorded and reported, never refused', async () => {
    const { id } = await register('reviewer');
    const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 30000 });
    if (!d.allowed) throw new Error('denied');
    const r = await tg.guard.recordOperation(
      id,
      'read_file',
      { inputTokens: 20000, outputTokens: 30000 },
      'success',
      d.reservation_id,
    );
    expect(r.budget_status.session).toMatchObject({
      tokens_used: 50000,
      tokens_limit: 40000,
      tokens_remaining: 0,
      utilization_pct: 125,
    });
    expect(r.budget_status.is_session_exhausted).toBe(true);
    await tg.identity.suspendAgent(id);
    const u = await tg.budget.deductBudget(id, 10, 10);
    expect(u.session.tokens_used).toBe(50020);
  });

  it('recordOperation without an id settles the oldest open hold of that operation', async () => {
    const { id } = await register();
    const a = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 1000 });
    const b = await tg.guard.checkPermission(id, 'write_file', { estimatedTokens: 2000 });
    const c = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 3000 });
    if (!a.allowed || !b.allowed || !c.allowed) throw new Error('denied');
    const r1 = await tg.guard.recordOperation(id, 'read_file', {
      inputTokens: 500,
      outputTokens: 0,
    });
    expect(r1).toMatchObject({ outcome: 'settled', reservation_id: a.reservation_id });
    expect(r1.budget_status.session.tokens_reserved).toBe(5000);
    const r2 = await tg.guard.recordOperation(id, 'read_file', { inputTokens: 500 });
    expect(r2.reservation_id).toBe(c.reservation_id);
    const r3 = await tg.guard.recordOperation(id, 'read_file', { inputTokens: 500 });
    expect(r3).toMatchObject({ outcome: 'no_hold', reservation_id: null });
    expect(r3.budget_status.session).toMatchObject({ tokens_used: 1500, tokens_reserved: 2000 });
  });

  it('release frees a hold, idempotently', async () => {
    const { id } = await register();
    const d = await tg.guard.checkPermission(id, 'deploy');
    if (!d.allowed) throw new Error('denied');
    expect(d.budget_status.session.tokens_reserved).toBe(10000);
    const s = await tg.guard.releaseReservation(d.reservation_id);
    expect(s.session.tokens_reserved).toBe(0);
    expect(s.daily.cost_reserved).toBe(0);
    expect(await tg.guard.releaseReservation(d.reservation_id)).toEqual(s);
    // A settle of a released hold disagrees with what was recorded: a conflict that says so.
    await expect(
      tg.guard.recordOperation(id, 'deploy', { inputTokens: 5 }, 'success', d.reservation_id),
    ).rejects.toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
      details: { reservation_id: d.reservation_id, recorded: { state: 'released' } },
    });
    await expect(tg.guard.releaseReservation(`${id}.00000000000000ff`)).rejects.toMatchObject({
      code: 'RESERVATION_NOT_FOUND',
    });
    expect((await eventsOf(ut, id)).filter((e) => e.type === 'release')).toHaveLength(1);
  });

  it('idempotency: the same request_id returns the same decision and reserves once', async () => {
    const { id } = await register();
    const first = await tg.guard.checkPermission(id, 'read_file', {
      estimatedTokens: 700,
      requestId: 'req-1',
    });
    const second = await tg.guard.checkPermission(id, 'read_file', {
      estimatedTokens: 700,
      requestId: 'req-1',
    });
    expect(first.allowed && second.allowed).toBe(true);
    if (!first.allowed || !second.allowed) return;
    expect(second.reservation_id).toBe(first.reservation_id);
    expect(second.expires_at).toBe(first.expires_at);
    expect(second.budget_status.session.tokens_reserved).toBe(700);
    await expect(
      tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 701, requestId: 'req-1' }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect((await eventsOf(ut, id)).filter((e) => e.type === 'decision')).toHaveLength(1);
  });

  it('a request id whose hold went with its deleted agent is decided afresh', async () => {
    const { id } = await register();
    const first = await tg.guard.checkPermission(id, 'read_file', {
      estimatedTokens: 500,
      requestId: 'again',
    });
    await tg.identity.deleteAgent(id);
    await tg.identity.registerAgent(id, 'backend-dev');
    const second = await tg.guard.checkPermission(id, 'read_file', {
      estimatedTokens: 500,
      requestId: 'again',
    });
    expect(first.allowed && second.allowed).toBe(true);
    if (!first.allowed || !second.allowed) return;
    expect(second.reservation_id).not.toBe(first.reservation_id);
    expect(second.budget_status.session.tokens_reserved).toBe(500);
    const r = await tg.guard.recordOperation(
      id,
      'read_file',
      { inputTokens: 100 },
      'success',
      second.reservation_id,
    );
    expect(r.outcome).toBe('settled');
  });

  it('dead worker: holds whose lease passed are freed, bounded per call, and a late settle still records', async () => {
    const { id } = await register();
    const holds: string[] = [];
    for (let i = 0; i < 11; i++) {
      const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 1000 });
      if (d.allowed) holds.push(d.reservation_id);
    }
    expect(holds).toHaveLength(11);
    const freedBefore = await ut.engine.expiredLeasesFreed();
    try {
      ut.engine.setClockOffsetForTests(tg.policy.leaseMs + 1000);
      const s1 = await tg.budget.getBudgetStatus(id);
      expect(s1?.session.tokens_reserved).toBe(3000); // 8 freed by this call
      const s2 = await tg.budget.getBudgetStatus(id);
      expect(s2?.session.tokens_reserved).toBe(0);
      expect(s2?.daily.cost_reserved).toBe(0);
      expect(s2?.session.tokens_remaining).toBe(100000);
      const outbox = (await outboxOf(ut, id)).filter((e) => e.fields.type === 'release');
      const released = outbox.map((e) => e.fields);
      expect(released).toHaveLength(11);
      expect(released[0]).toMatchObject({ result: 'lease_expired', actor: 'system' });
      // Numbered within their call: 8 by the first getStatus, 3 by the second.
      expect(released.map((e) => e.event_id?.slice(-4))).toEqual([
        ...['0000', '0001', '0002', '0003', '0004', '0005', '0006', '0007'],
        ...['0000', '0001', '0002'],
      ]);
      if (ut.raw) {
        // One outbox entry per call.
        expect(new Set(outbox.slice(0, 8).map((e) => e.streamId)).size).toBe(1);
        expect(new Set(outbox.slice(8).map((e) => e.streamId)).size).toBe(1);
        expect(outbox[8]?.streamId).not.toBe(outbox[0]?.streamId);
      }
      // Other test files share the Redis: at least ours were counted.
      expect((await ut.engine.expiredLeasesFreed()) - freedBefore).toBeGreaterThanOrEqual(11);
      const late = await tg.guard.recordOperation(
        id,
        'read_file',
        { inputTokens: 100, outputTokens: 100 },
        'success',
        holds[0],
      );
      expect(late.outcome).toBe('settled');
      expect(late.budget_status.session).toMatchObject({ tokens_used: 200, tokens_reserved: 0 });
      expect(late.budget_status.daily.cost_reserved).toBe(0);
    } finally {
      ut.engine.setClockOffsetForTests(0);
    }
  });

  it("midnight UTC: a new day starts at zero, the session carries on, yesterday's hold settles today", async () => {
    const { id } = await register();
    const now = Date.now();
    const toBeforeMidnight = nextMidnight(now) - 5_000 - now;
    try {
      ut.engine.setClockOffsetForTests(toBeforeMidnight);
      await tg.budget.deductBudget(id, 1000, 1000); // 0.018
      const held = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 2000 });
      if (!held.allowed) throw new Error('denied');
      const day1 = held.budget_status.daily;
      expect(day1).toMatchObject({ cost_used: 0.018, cost_reserved: 0.03 });

      ut.engine.setClockOffsetForTests(toBeforeMidnight + 10_000);
      const s = await tg.budget.getBudgetStatus(id);
      expect(s?.daily.date).not.toBe(day1.date);
      expect(Date.parse(`${s?.daily.date}T00:00:00Z`)).toBe(Date.parse(day1.resets_at));
      expect(s?.daily).toMatchObject({ cost_used: 0, cost_reserved: 0.03 });
      expect(s?.session).toMatchObject({ tokens_used: 2000, tokens_reserved: 2000 });

      const r = await tg.guard.recordOperation(
        id,
        'read_file',
        { inputTokens: 1000, outputTokens: 0 },
        'success',
        held.reservation_id,
      );
      expect(r.budget_status.daily).toMatchObject({ cost_used: 0.003, cost_reserved: 0 });
      expect(r.budget_status.session).toMatchObject({ tokens_used: 3000, tokens_reserved: 0 });

      if (ut.raw) {
        const k = agentKeys(id, 16);
        const day1Key = k.day(Number(day1.date.replaceAll('-', '')));
        const expireAt = Number(await ut.raw.call('EXPIRETIME', day1Key));
        const expected =
          Math.floor((Date.parse(day1.resets_at) - toBeforeMidnight) / 1000) + 86_400;
        expect(Math.abs(expireAt - expected)).toBeLessThanOrEqual(1);
      }
    } finally {
      ut.engine.setClockOffsetForTests(0);
    }
  });

  it('sessions: a new session has a fresh budget; open holds move into it and it pays their settles', async () => {
    const { id, rec } = await register();
    const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 4000 });
    if (!d.allowed) throw new Error('denied');
    await tg.budget.deductBudget(id, 1000, 0);
    await tg.guard.checkPermission(id, 'deploy_everything');
    const summary = await tg.identity.endSession(rec.session_id);
    expect(summary).toMatchObject({
      agent_id: id,
      session_id: rec.session_id,
      tokens_used: 1000,
      cost_incurred: 0.003,
      operations_blocked: 1,
    });
    expect(summary.next_session_id).not.toBe(rec.session_id);
    expect(summary.budget_status.session).toMatchObject({
      session_id: summary.next_session_id,
      tokens_used: 0,
      tokens_reserved: 4000,
    });
    expect(summary.budget_status.daily).toMatchObject({ cost_used: 0.003, cost_reserved: 0.06 });
    // Ending the session that ended last again answers its summary (safe to repeat).
    expect(await tg.identity.endSession(rec.session_id)).toMatchObject({
      session_id: rec.session_id,
      tokens_used: 1000,
      next_session_id: summary.next_session_id,
    });
    await expect(tg.identity.endSession(`${id}.00000000000000ff`)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const r = await tg.guard.recordOperation(
      id,
      'read_file',
      { inputTokens: 2000 },
      'success',
      d.reservation_id,
    );
    expect(r.budget_status.session).toMatchObject({
      session_id: summary.next_session_id,
      tokens_used: 2000,
      tokens_reserved: 0,
    });
    expect(r.budget_status.daily).toMatchObject({ cost_used: 0.009, cost_reserved: 0 });
    const settle = (await eventsOf(ut, id)).find((e) => e.type === 'settle');
    expect(settle?.session_id).toBe(summary.next_session_id);
    const created = await tg.identity.createSession(id);
    expect(created.session_id).not.toBe(summary.next_session_id);
    const types = (await eventsOf(ut, id)).map((e) => e.type);
    expect(types.filter((t) => t === 'session_ended')).toHaveLength(2);
    expect(types.filter((t) => t === 'session_started')).toHaveLength(2);
  });

  it("one call's events: numbered 0000, 0001, … in their ids; on Redis, one outbox entry", async () => {
    const { id } = await register();
    await tg.identity.createSession(id); // one call: session_ended, then session_started
    const ev = await outboxOf(ut, id);
    expect(ev.map((e) => e.fields.type)).toEqual([
      'agent_registered',
      'session_ended',
      'session_started',
    ]);
    const [reg, ended, started] = ev as [(typeof ev)[0], (typeof ev)[0], (typeof ev)[0]];
    expect(reg.fields.event_id?.slice(-4)).toBe('0000');
    expect(ended.fields.event_id?.slice(-4)).toBe('0000');
    expect(started.fields.event_id?.slice(-4)).toBe('0001');
    // One call: the same time and random tail; only the number differs.
    expect(started.fields.event_id?.slice(0, -4)).toBe(ended.fields.event_id?.slice(0, -4));
    expect(started.fields.at).toBe(ended.fields.at);
    if (ut.raw) {
      expect(started.streamId).toBe(ended.streamId);
      expect(reg.streamId).not.toBe(ended.streamId);
    }
    // readOutbox: one OutboxEntry per event, in order; a call's events share their entry's id.
    const shard = shardOf(id, ut.engine.shards);
    const read = (await ut.engine.readOutbox(shard)).filter((e) => e.fields.agent_id === id);
    expect(read).toEqual(ev.map((e) => ({ shard, streamId: e.streamId, fields: e.fields })));
  });

  it('lifecycle: limits, role, key rotation, listing, deletion', async () => {
    const { id, rec } = await register('tester');
    expect(await tg.identity.verifyAgent(id, rec.api_key)).toEqual({ valid: true, reason: null });
    const rotated = await tg.identity.rotateKey(id);
    expect(await tg.identity.verifyAgent(id, rec.api_key)).toEqual({
      valid: false,
      reason: 'Invalid API key',
    });
    expect(await tg.identity.verifyAgent(id, rotated.api_key)).toEqual({
      valid: true,
      reason: null,
    });
    const s = await tg.budget.setLimits(id, { sessionTokenLimit: 1234, dailyCostLimit: 1.5 });
    expect(s.session.tokens_limit).toBe(1234);
    expect(s.daily.cost_limit).toBe(1.5);
    const promoted = await tg.identity.setRole(id, 'backend-dev');
    expect(promoted.permissions).toContain('deploy');
    expect((await tg.budget.getBudgetStatus(id))?.session.tokens_limit).toBe(100000);
    expect((await tg.identity.getAllAgents()).map((a) => a.agent_id)).toContain(id);
    await tg.identity.deleteAgent(id);
    expect(await tg.identity.getAgent(id)).toBeNull();
    expect(await tg.identity.verifyAgent(id)).toEqual({ valid: false, reason: 'Agent not found' });
    expect((await tg.guard.checkPermission(id, 'read_file')).allowed).toBe(false);
    expect((await tg.identity.getAllAgents()).map((a) => a.agent_id)).not.toContain(id);
    const types = (await eventsOf(ut, id)).map((e) => e.type);
    expect(types).toEqual([
      'agent_registered',
      'key_rotated',
      'limits_changed',
      'agent_updated',
      'agent_deleted',
    ]);
  });

  it("the guide's Testing Integration scenario", async () => {
    const id = uid('test-agent');
    await tg.budget.initializeBudget(id, 'backend-dev', 100000, 10.0);
    const check1 = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 5000 });
    expect(check1.allowed).toBe(true);
    await tg.guard.recordOperation(id, 'read_file', { inputTokens: 4800, outputTokens: 15200 });
    const check2 = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 100000 });
    expect(check2).toMatchObject({
      allowed: false,
      error_code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
      reason: 'Session token limit reached. Used: 20000/100000',
    });
    const check3 = await tg.guard.checkPermission(id, 'unauthorized_op', { estimatedTokens: 1000 });
    expect(check3).toMatchObject({ allowed: false, error_code: 'RBAC_DENIED' });
    const status = await tg.budget.getBudgetStatus(id);
    expect(status).toMatchObject({
      session: {
        tokens_used: 20000,
        tokens_reserved: 0,
        tokens_limit: 100000,
        utilization_pct: 20,
      },
      daily: { cost_used: 0.2424, cost_limit: 10 },
      operations_blocked: 2,
    });
    const check = await tg.budget.checkBudget(id, 90000);
    expect(check).toMatchObject({ allowed: false, exceeded: 'session' });
    expect((await tg.budget.checkBudget(id, 1000)).allowed).toBe(true);
  });

  it('executeAgentOperation settles success and failure, and throws on denial', async () => {
    const { id } = await register();
    const ok = await tg.guard.executeAgentOperation(
      id,
      'run_tests',
      { estimatedTokens: 9000 },
      async () => ({ inputTokens: 100, outputTokens: 50, passed: true }),
    );
    expect(ok).toMatchObject({
      passed: true,
      budget_status: { session: { tokens_used: 150, tokens_reserved: 0 } },
    });
    await expect(
      tg.guard.executeAgentOperation(id, 'run_tests', { estimatedTokens: 9000 }, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const s = await tg.budget.getBudgetStatus(id);
    expect(s?.session).toMatchObject({ tokens_used: 9150, tokens_reserved: 0 });
    await expect(
      tg.guard.executeAgentOperation(id, 'fly', {}, async () => ({})),
    ).rejects.toMatchObject({ name: 'PermissionDeniedError', code: 'RBAC_DENIED' });
  });

  it('cluster-safe: every script call keeps all its keys in one hash slot', () => {
    if (kind === 'memory') return;
    expect(ut.calls.length).toBeGreaterThan(50);
    const scripts = new Set<string>();
    for (const c of ut.calls) {
      scripts.add(c.script);
      const slots = new Set(c.keys.map(keySlot));
      expect(slots.size, `${c.script} ${c.keys.join(' ')}`).toBe(1);
      if (c.script !== 'authorize') continue;
      // The batch derives each agent's keys from the outbox's hash tag: every
      // agent of the call must be one of that shard's (its own key, exactly).
      const outbox = c.keys[0] as string;
      const profiles = Number(c.args[3]);
      const first = 4 + 9 * profiles;
      expect((c.args.length - first) % 7, 'authorize arguments').toBe(0);
      for (let j = first; j < c.args.length; j += 7) {
        const agentId = String(c.args[j]);
        expect(outbox.replace(/outbox$/, `agent:${agentId}`)).toBe(
          agentKeys(agentId, ut.engine.shards).agent,
        );
      }
    }
    expect([...scripts].sort()).toEqual([
      'authorize',
      'deleteAgent',
      'getStatus',
      'listAgents',
      'recordUsage',
      'registerAgent',
      'release',
      'settle',
      'startSession',
      'updateAgent',
    ]);
  });
});
