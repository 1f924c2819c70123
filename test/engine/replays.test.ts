/**
 * Replays and closed holds, on every engine (memory, Redis, Cluster): a
 * request id sent again after its hold moved on answers the original
 * decision with `replayed: true` and where the hold stands now, holding and
 * counting nothing; a deleted and re-registered agent starts clean.
 * Sessions: a hold settled in a later session is paid by that session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costMicros } from '../../src/engine/money.js';
import type { AuthorizeResult } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';
import { engineAgentEvents, statusWithoutNow } from '../support/exactly-once.js';

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let tg: Tollgate;

  beforeAll(async () => {
    ut = await makeEngine(kind);
    tg = await createTollgate({ engine: ut.engine });
  });
  afterAll(async () => {
    await ut.close();
  });

  async function register(limits: { sessionTokenLimit?: number } = {}): Promise<string> {
    const id = uid('rp');
    await tg.identity.registerAgent(id, 'coder', {}, limits);
    return id;
  }

  function authorize(
    id: string,
    o: { requestId?: string; estimate?: number; leaseMs?: number; operation?: string } = {},
  ): Promise<AuthorizeResult> {
    const operation = o.operation ?? 'read_file';
    return ut.engine.authorize({
      agentId: id,
      operation,
      estimatedTokens: o.estimate ?? 5000,
      rates: tg.policy.rates(),
      leaseMs: o.leaseMs ?? 300_000,
      allowedRoles: tg.policy.rolesAllowed(operation),
      requestId: o.requestId,
      actor: 'library',
    });
  }

  async function allowed(id: string, o: Parameters<typeof authorize>[1] = {}) {
    const r = await authorize(id, o);
    if (!r.allowed) throw new Error(`not allowed: ${r.code}`);
    return r;
  }

  const status = (id: string) => statusWithoutNow(ut, id);

  const events = (id: string) => engineAgentEvents(ut, id);

  /** Sends `requestId` again (same fingerprint): the answer, and that it held and counted nothing. */
  async function replay(id: string, requestId: string, o: Parameters<typeof authorize>[1] = {}) {
    const before = await status(id);
    const eventsBefore = (await events(id)).length;
    const r = await authorize(id, { ...o, requestId });
    expect(r.replayed).toBe(true);
    expect(await status(id)).toEqual(before);
    expect((await events(id)).length).toBe(eventsBefore);
    return r;
  }

  describe('a request id sent again', () => {
    it('after the agent was suspended: the hold it made, still open', async () => {
      const id = await register();
      const first = await allowed(id, { requestId: 'rq-susp' });
      expect(first).toMatchObject({ replayed: false, reservationState: 'open' });
      await tg.identity.suspendAgent(id);
      const r = await replay(id, 'rq-susp');
      expect(r).toMatchObject({
        allowed: true,
        reservationId: first.reservationId,
        leaseEndMs: first.leaseEndMs,
        holdCostMicros: first.holdCostMicros,
        reservationState: 'open',
      });
      expect(r.status?.sessionTokensReserved).toBe(5000);
      // A new request is decided now: the agent is suspended.
      expect(await authorize(id, { requestId: 'rq-susp-2' })).toMatchObject({
        allowed: false,
        code: 'AGENT_SUSPENDED',
        replayed: false,
      });
    });

    it('of a denial: the denial, not counted again, even once the cause is gone', async () => {
      const id = await register();
      await tg.identity.suspendAgent(id);
      expect(await authorize(id, { requestId: 'rq-deny' })).toMatchObject({
        allowed: false,
        code: 'AGENT_SUSPENDED',
        replayed: false,
      });
      await tg.identity.resumeAgent(id);
      const r = await replay(id, 'rq-deny');
      expect(r).toMatchObject({ allowed: false, code: 'AGENT_SUSPENDED' });
      expect((await status(id)).operationsBlocked).toBe(1);
    });

    it('with another estimate: IDEMPOTENCY_CONFLICT', async () => {
      const id = await register();
      await allowed(id, { requestId: 'rq-fp' });
      await expect(authorize(id, { requestId: 'rq-fp', estimate: 4999 })).rejects.toMatchObject({
        code: 'IDEMPOTENCY_CONFLICT',
      });
      expect((await status(id)).sessionTokensReserved).toBe(5000);
    });

    it('after settle: settled', async () => {
      const id = await register();
      const first = await allowed(id, { requestId: 'rq-settle' });
      await ut.engine.settle({
        reservationId: first.reservationId,
        inputTokens: 100,
        outputTokens: 10,
        result: 'success',
        actor: 'library',
      });
      const r = await replay(id, 'rq-settle');
      expect(r).toMatchObject({
        allowed: true,
        reservationId: first.reservationId,
        leaseEndMs: first.leaseEndMs,
        reservationState: 'settled',
      });
      expect(await status(id)).toMatchObject({ sessionTokensUsed: 110, sessionTokensReserved: 0 });
    });

    it('after release: released', async () => {
      const id = await register();
      const first = await allowed(id, { requestId: 'rq-rel' });
      await ut.engine.release({ reservationId: first.reservationId, actor: 'library' });
      const r = await replay(id, 'rq-rel');
      expect(r).toMatchObject({ reservationId: first.reservationId, reservationState: 'released' });
      expect((await status(id)).sessionTokensReserved).toBe(0);
    });

    it('after its lease passed: expired (freed, or only due)', async () => {
      const id = await register();
      const a = await allowed(id, { requestId: 'rq-exp-a', leaseMs: 60_000 });
      const b = await allowed(id, { requestId: 'rq-exp-b', leaseMs: 60_000 });
      ut.engine.setClockOffsetForTests(61_000);
      try {
        // Not freed yet (nothing ran since the lease passed): its lease end <= now.
        const rb = await authorize(id, { requestId: 'rq-exp-b', leaseMs: 60_000 });
        expect(rb).toMatchObject({
          allowed: true,
          replayed: true,
          reservationId: b.reservationId,
          reservationState: 'expired',
        });
        // A status read frees both; the replay then finds the expired record.
        expect((await status(id)).sessionTokensReserved).toBe(0);
        const ra = await replay(id, 'rq-exp-a', { leaseMs: 60_000 });
        expect(ra).toMatchObject({
          reservationId: a.reservationId,
          leaseEndMs: a.leaseEndMs,
          reservationState: 'expired',
        });
      } finally {
        ut.engine.setClockOffsetForTests(0);
      }
    });

    it('after delete and register again: decided afresh; the old reservation is not found', async () => {
      const id = await register();
      const old = await allowed(id, { requestId: 'rq-del' });
      await tg.identity.deleteAgent(id);
      await tg.identity.registerAgent(id, 'coder');
      const r = await allowed(id, { requestId: 'rq-del' });
      expect(r).toMatchObject({ replayed: false, reservationState: 'open' });
      expect(r.reservationId).not.toBe(old.reservationId);
      expect((await status(id)).sessionTokensReserved).toBe(5000);
      await expect(
        ut.engine.settle({
          reservationId: old.reservationId,
          inputTokens: 1,
          outputTokens: 1,
          result: 'success',
          actor: 'library',
        }),
      ).rejects.toMatchObject({ code: 'RESERVATION_NOT_FOUND' });
      await expect(
        ut.engine.release({ reservationId: old.reservationId, actor: 'library' }),
      ).rejects.toMatchObject({ code: 'RESERVATION_NOT_FOUND' });
      expect((await status(id)).sessionTokensReserved).toBe(5000);
    });
  });

  it('hold, new session, settle (3×): the session current at the settle pays', async () => {
    const id = await register();
    const rates = tg.policy.rates();
    const cost = (t: number) =>
      costMicros(t * 10, rates.inputMicrosPerMillion, t, rates.outputMicrosPerMillion);
    let prevUsed = 0;
    let prevCost = 0;
    for (let i = 1; i <= 3; i++) {
      const h = await allowed(id, { estimate: 1000 });
      const change = await ut.engine.startSession({ agentId: id, actor: 'library' });
      expect(change.ended).toMatchObject({ tokensUsed: prevUsed, costMicros: prevCost });
      expect(change.status).toMatchObject({ sessionTokensUsed: 0, sessionTokensReserved: 1000 });
      const s = await ut.engine.settle({
        reservationId: h.reservationId,
        inputTokens: i * 100,
        outputTokens: i * 10,
        result: 'success',
        actor: 'library',
      });
      expect(s).toMatchObject({ outcome: 'settled', costMicros: cost(i * 10) });
      expect(s.status).toMatchObject({
        sessionId: change.status.sessionId,
        sessionTokensUsed: i * 110,
        sessionTokensReserved: 0,
        sessionCostMicros: cost(i * 10),
      });
      const settleEvent = (await events(id)).filter((e) => e.type === 'settle').at(-1);
      expect(settleEvent?.session_id).toBe(change.status.sessionId);
      prevUsed = i * 110;
      prevCost = cost(i * 10);
    }
    const sid = (await status(id)).sessionId;
    const end = await ut.engine.startSession({ agentId: id, endSessionId: sid, actor: 'library' });
    expect(end.ended).toMatchObject({ sessionId: sid, tokensUsed: 330, costMicros: prevCost });
  });

  it("a settle naming another model is priced at the hold's model", async () => {
    const priced = await createTollgate({
      engine: ut.engine,
      policy: {
        models: {
          cheap: { input_per_million: 1, output_per_million: 2 },
          pricey: { input_per_million: 100, output_per_million: 200 },
        },
      },
    });
    const id = await register();
    const d = await priced.guard.checkPermission(id, 'read_file', {
      estimatedTokens: 5000,
      model: 'cheap',
    });
    if (!d.allowed) throw new Error(d.error_code);
    const r = await priced.guard.recordOperation(
      id,
      'read_file',
      { inputTokens: 1000, outputTokens: 500, model: 'pricey' },
      'success',
      d.reservation_id,
    );
    const expected = costMicros(1000, 1_000_000, 500, 2_000_000);
    expect(r.cost).toBe(expected / 1_000_000);
    expect((await status(id)).sessionCostMicros).toBe(expected);
    const ev = (await events(id)).filter((e) => e.type === 'settle');
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ model: 'cheap', cost: String(expected) });
  });

  it('2,000 expired holds: an authorize that fits is allowed on the first call', async () => {
    const id = await register();
    for (let i = 0; i < 2000; i += 250) {
      await Promise.all(
        Array.from({ length: 250 }, () => allowed(id, { estimate: 40, leaseMs: 60_000 })),
      );
    }
    // 2,000 × 40 = the whole session budget (80,000) is held.
    expect((await status(id)).sessionTokensReserved).toBe(80_000);
    expect((await authorize(id, { estimate: 1000 })).allowed).toBe(false);
    ut.engine.setClockOffsetForTests(61_000);
    try {
      const r = await authorize(id, { estimate: 1000, leaseMs: 600_000 });
      expect(r).toMatchObject({ allowed: true, replayed: false, reservationState: 'open' });
      expect(r.status?.sessionTokensReserved).toBe(1000);
      const s = await status(id);
      expect(s.sessionTokensReserved).toBe(1000);
      expect(s.operationsBlocked).toBe(1);
    } finally {
      ut.engine.setClockOffsetForTests(0);
    }
    const freed = (await events(id)).filter(
      (e) => e.type === 'release' && e.result === 'lease_expired',
    );
    expect(freed).toHaveLength(2000);
  });

  it('2,000 expired holds: the status shows 0 reserved', async () => {
    const id = await register();
    for (let i = 0; i < 2000; i += 250) {
      await Promise.all(
        Array.from({ length: 250 }, () => allowed(id, { estimate: 40, leaseMs: 60_000 })),
      );
    }
    ut.engine.setClockOffsetForTests(61_000);
    try {
      expect((await tg.budget.getBudgetStatus(id))?.session.tokens_reserved).toBe(0);
    } finally {
      ut.engine.setClockOffsetForTests(0);
    }
  });

  it('overrun: estimate 1, settle 20,000 tokens: reported, in the status, next authorize denied', async () => {
    const id = await register({ sessionTokenLimit: 10_000 });
    const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 1 });
    if (!d.allowed) throw new Error(d.error_code);
    const rates = tg.policy.rates();
    const hold = costMicros(
      1,
      Math.max(rates.inputMicrosPerMillion, rates.outputMicrosPerMillion),
      0,
      0,
    );
    const cost = costMicros(20_000, rates.inputMicrosPerMillion, 0, 0);
    const r = await tg.guard.recordOperation(
      id,
      'read_file',
      { inputTokens: 20_000, outputTokens: 0 },
      'success',
      d.reservation_id,
    );
    expect(r).toMatchObject({
      outcome: 'settled',
      overrun_tokens: 19_999,
      overrun_cost: (cost - hold) / 1_000_000,
    });
    const s = await tg.budget.getBudgetStatus(id);
    expect(s?.session).toMatchObject({ tokens_used: 20_000, tokens_overrun: 19_999 });
    expect(s?.daily.cost_overrun).toBe((cost - hold) / 1_000_000);
    expect(s?.is_over_limit).toBe(true);
    const e = await ut.engine.status(id);
    expect(e).toMatchObject({ sessionOverrunTokens: 19_999, dailyOverrunMicros: cost - hold });
    const ev = (await events(id)).filter((x) => x.type === 'settle');
    expect(ev).toEqual([
      expect.objectContaining({ overrun_tokens: '19999', overrun_cost: String(cost - hold) }),
    ]);
    expect(await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 1 })).toMatchObject({
      allowed: false,
      error_code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
    });
  });
});
