/**
 * Rate limits per agent (docs/limits.md), on every engine (memory, Redis,
 * Cluster): GCRA in the same atomic decision, after the budgets; requests per
 * minute cost 1 per authorize, tokens per minute the hold's estimate, which
 * the settle corrects and the release gives back; a replay consumes nothing.
 * Time moves with the engine's test clock offset (the rate's step here is 2 s
 * or more, far above the real ms that pass between the calls of a step).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizeResult } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';
import { engineAgentEvents } from '../support/exactly-once.js';
import { hold, PROFILE, registerIn } from '../support/pools.js';

type Denied = Extract<AuthorizeResult, { allowed: false }>;

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let tg: Tollgate;
  /** The engine's clock offset so far (each test moves it forward only). */
  let offset = 0;

  beforeAll(async () => {
    ut = await makeEngine(kind);
    tg = await createTollgate({ engine: ut.engine });
  });
  afterAll(async () => {
    ut.engine.setClockOffsetForTests(0);
    await ut.close();
  });

  function advance(ms: number): void {
    offset += ms;
    ut.engine.setClockOffsetForTests(offset);
  }

  async function register(limits: {
    requestsPerMinute?: number;
    tokensPerMinute?: number;
    sessionTokenLimit?: number;
  }): Promise<string> {
    const id = uid('rl');
    await tg.identity.registerAgent(id, 'coder', {}, limits);
    return id;
  }

  function authorize(id: string, estimate = 100, requestId?: string): Promise<AuthorizeResult> {
    return ut.engine.authorize({
      agentId: id,
      profile: tg.policy.profile('read_file'),
      estimatedTokens: estimate,
      requestId,
      actor: 'library',
    });
  }

  function denials(rs: AuthorizeResult[]): Denied[] {
    return rs.filter((r): r is Denied => !r.allowed);
  }

  it('30 requests per minute, 200 at once: exactly 30 allowed; the retry time allows exactly the next one', async () => {
    const id = await register({ requestsPerMinute: 30 });
    const rs = await Promise.all(Array.from({ length: 200 }, () => authorize(id)));
    expect(rs.filter((r) => r.allowed)).toHaveLength(30);
    const denied = denials(rs);
    expect(denied).toHaveLength(170);
    for (const d of denied) {
      expect(d).toMatchObject({
        code: 'RATE_LIMITED',
        exceeded: 'requests_per_minute',
        level: 'agent',
        replayed: false,
      });
      // One every 60000 / 30 = 2000 ms once the burst is spent.
      expect(d.retryAfterMs).toBeGreaterThan(0);
      expect(d.retryAfterMs).toBeLessThanOrEqual(2000);
    }
    const s = await ut.engine.status(id);
    expect(s?.operationsBlocked).toBe(170);
    expect(s?.requestsPerMinute).toBe(30);

    const last = await authorize(id);
    if (last.allowed) throw new Error('expected a denial');
    advance(last.retryAfterMs ?? 0);
    const next = await Promise.all(Array.from({ length: 10 }, () => authorize(id)));
    expect(next.filter((r) => r.allowed)).toHaveLength(1);
    expect(denials(next).every((d) => d.exceeded === 'requests_per_minute')).toBe(true);

    const events = (await engineAgentEvents(ut, id)).filter((e) => e.type === 'decision');
    const limited = events.filter((e) => e.error_code === 'RATE_LIMITED');
    expect(limited).toHaveLength(170 + 1 + 9);
    expect(limited.every((e) => e.exceeded === 'requests_per_minute' && e.allowed === '0')).toBe(
      true,
    );
  });

  it('tokens per minute: holds of N tokens; a settle below the hold frees room, a release gives it back', async () => {
    // 6000 tokens per minute: 10 ms per token, a hold of 1000 is 10 s.
    const id = await register({ tokensPerMinute: 6000 });
    const rs = await Promise.all(Array.from({ length: 20 }, () => authorize(id, 1000)));
    const held = rs.filter((r) => r.allowed);
    expect(held).toHaveLength(6);
    for (const d of denials(rs)) {
      expect(d).toMatchObject({ code: 'RATE_LIMITED', exceeded: 'tokens_per_minute' });
      expect(d.retryAfterMs).toBeGreaterThan(0);
      expect(d.retryAfterMs).toBeLessThanOrEqual(10_000);
    }
    const first = held[0];
    if (!first?.allowed) throw new Error('expected a hold');
    // Used 0 of its 1000: the 1000 come back, room for one more hold of 1000.
    await ut.engine.settle({
      reservationId: first.reservationId,
      inputTokens: 0,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    // A replayed settle corrects nothing again.
    await ut.engine.settle({
      reservationId: first.reservationId,
      inputTokens: 0,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    const after = await Promise.all(Array.from({ length: 5 }, () => authorize(id, 1000)));
    expect(after.filter((r) => r.allowed)).toHaveLength(1);

    // A release gives the hold's 1000 back, once.
    const second = held[1];
    if (!second?.allowed) throw new Error('expected a hold');
    await ut.engine.release({ reservationId: second.reservationId, actor: 'library' });
    await ut.engine.release({ reservationId: second.reservationId, actor: 'library' });
    const again = await Promise.all(Array.from({ length: 5 }, () => authorize(id, 1000)));
    expect(again.filter((r) => r.allowed)).toHaveLength(1);

    // A settle above the hold (3000 used of 1000) takes 2000 more: 20 s before room again.
    const third = held[2];
    if (!third?.allowed) throw new Error('expected a hold');
    await ut.engine.settle({
      reservationId: third.reservationId,
      inputTokens: 2000,
      outputTokens: 1000,
      result: 'success',
      actor: 'library',
    });
    const over = await authorize(id, 1000);
    if (over.allowed) throw new Error('expected a denial');
    expect(over.retryAfterMs).toBeGreaterThan(20_000);
    expect(over.retryAfterMs).toBeLessThanOrEqual(30_000);
    advance(over.retryAfterMs ?? 0);
    const later = await Promise.all(Array.from({ length: 3 }, () => authorize(id, 1000)));
    expect(later.filter((r) => r.allowed)).toHaveLength(1);
  });

  it('usage recorded without a hold counts in tokens per minute, once per usage id, never refused', async () => {
    // 6000 tokens per minute: 10 ms per token.
    const id = await register({ tokensPerMinute: 6000 });
    const usage = (usageId: string, tokens: number) =>
      ut.engine.recordUsage({
        agentId: id,
        usageId,
        inputTokens: tokens,
        outputTokens: 0,
        rates: tg.policy.profile('read_file').rates,
        result: 'success',
        actor: 'library',
      });
    await usage('u-1', 5000);
    // The same usage id again counts nothing more.
    expect((await usage('u-1', 5000)).replayed).toBe(true);
    expect((await authorize(id, 1000)).allowed).toBe(true);
    const over = await authorize(id, 1000);
    expect(over).toMatchObject({ allowed: false, exceeded: 'tokens_per_minute' });
    // Usage past the limit is recorded all the same (it happened): 20 s more to wait.
    expect((await usage('u-2', 2000)).costMicros).toBeGreaterThan(0);
    const later = await authorize(id, 1000);
    if (later.allowed) throw new Error('expected a denial');
    expect(later.retryAfterMs).toBeGreaterThan(20_000);
    expect(later.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('usage without a hold counts in the tokens per minute of every pool above the agent', async () => {
    const org = uid('rlp');
    const team = uid('rlp');
    await ut.engine.createPool({ poolId: org, tokensPerMinute: 6000, actor: 'admin' });
    await ut.engine.createPool({ poolId: team, parentId: org, actor: 'admin' });
    const a = await registerIn(ut.engine, team);
    await ut.engine.recordUsage({
      agentId: a,
      inputTokens: 3000,
      outputTokens: 2000,
      rates: PROFILE.rates,
      result: 'success',
      actor: 'library',
    });
    expect((await hold(ut.engine, a, 1000)).allowed).toBe(true);
    expect(await hold(ut.engine, a, 1000)).toMatchObject({
      allowed: false,
      exceeded: 'tokens_per_minute',
      level: org,
    });
  });

  it('a hold above tokens_per_minute never fits', async () => {
    const id = await register({ tokensPerMinute: 500 });
    const r = await authorize(id, 501);
    expect(r).toMatchObject({
      allowed: false,
      code: 'RATE_LIMITED',
      exceeded: 'tokens_per_minute',
    });
    expect((await authorize(id, 500)).allowed).toBe(true);
  });

  it('both limits are all or nothing: a denial by one consumes nothing of the other', async () => {
    const id = await register({ requestsPerMinute: 2, tokensPerMinute: 1000 });
    expect((await authorize(id, 900)).allowed).toBe(true);
    // Tokens deny: the request is not counted.
    expect(await authorize(id, 200)).toMatchObject({ exceeded: 'tokens_per_minute' });
    expect((await authorize(id, 100)).allowed).toBe(true);
    // Both deny: requests is named, the retry is the later of the two.
    const d = await authorize(id, 500);
    expect(d).toMatchObject({ code: 'RATE_LIMITED', exceeded: 'requests_per_minute' });
    if (d.allowed) throw new Error('expected a denial');
    expect(d.retryAfterMs).toBeGreaterThan(29_000);
  });

  it('a replay consumes nothing: the same request id answers the first decision', async () => {
    const id = await register({ requestsPerMinute: 2 });
    const a = await authorize(id, 100, 'req-a');
    const a2 = await authorize(id, 100, 'req-a');
    expect(a.allowed && a2.allowed && a2.replayed).toBe(true);
    expect((await authorize(id, 100, 'req-b')).allowed).toBe(true);
    const c = await authorize(id, 100, 'req-c');
    expect(c).toMatchObject({ allowed: false, code: 'RATE_LIMITED', replayed: false });
    const c2 = await authorize(id, 100, 'req-c');
    expect(c2).toMatchObject({
      allowed: false,
      code: 'RATE_LIMITED',
      exceeded: 'requests_per_minute',
      level: 'agent',
      replayed: true,
    });
    if (c.allowed || c2.allowed) throw new Error('expected denials');
    expect(c2.retryAfterMs).toBeGreaterThan(0);
    expect(c2.retryAfterMs).toBeLessThanOrEqual(c.retryAfterMs ?? 0);
    expect((await ut.engine.status(id))?.operationsBlocked).toBe(1);
  });

  it('the budgets come first: a budget denial wins over a rate limit', async () => {
    const id = await register({ requestsPerMinute: 1, sessionTokenLimit: 1000 });
    expect((await authorize(id, 600)).allowed).toBe(true);
    expect(await authorize(id, 600)).toMatchObject({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
    });
    expect(await authorize(id, 100)).toMatchObject({
      allowed: false,
      code: 'RATE_LIMITED',
      exceeded: 'requests_per_minute',
    });
  });

  it('limits from the policy role, overridden per agent; 0 removes one; the status shows them', async () => {
    const policied = await createTollgate({
      engine: ut.engine,
      policy: { roles: { coder: { requests_per_minute: 3, tokens_per_minute: 50_000 } } },
    });
    const id = uid('rl');
    await policied.identity.registerAgent(id, 'coder');
    expect((await policied.budget.getBudgetStatus(id))?.rate_limits).toEqual({
      requests_per_minute: 3,
      tokens_per_minute: 50_000,
    });
    const rs = await Promise.all(Array.from({ length: 5 }, () => authorize(id)));
    expect(rs.filter((r) => r.allowed)).toHaveLength(3);

    const s = await policied.budget.setLimits(id, { requestsPerMinute: 0 });
    expect(s.rate_limits).toEqual({ requests_per_minute: null, tokens_per_minute: 50_000 });
    expect((await authorize(id)).allowed).toBe(true);
    const none = await policied.budget.setLimits(id, { tokensPerMinute: 0 });
    expect(none.rate_limits).toBeNull();
    // An agent without limits: null, and the other fields as before.
    const plain = await register({});
    expect((await tg.budget.getBudgetStatus(plain))?.rate_limits).toBeNull();
  });

  it('the decision: RATE_LIMITED with exceeded, level, retry_after_ms, a reason and a suggestion', async () => {
    const id = await register({ requestsPerMinute: 1 });
    expect((await tg.guard.checkPermission(id, 'read_file')).allowed).toBe(true);
    const d = await tg.guard.checkPermission(id, 'read_file');
    expect(d).toMatchObject({
      allowed: false,
      error_code: 'RATE_LIMITED',
      exceeded: 'requests_per_minute',
      level: 'agent',
      budget_status: { agent_id: id, rate_limits: { requests_per_minute: 1 } },
    });
    if (d.allowed) throw new Error('expected a denial');
    expect(d.retry_after_ms).toBeGreaterThan(59_000);
    expect(d.reason).toContain('1 requests per minute');
    expect(d.suggestion).toContain('Retry after 60 s');
  });
});
