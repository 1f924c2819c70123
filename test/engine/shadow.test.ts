/**
 * Shadow mode (docs/operations.md, "Shadow mode"), on every engine (memory,
 * Redis, Cluster): a denial of an agent whose role or id the profile names in
 * shadow is held as an allowed decision and answered with `wouldDeny`; its
 * decision event is the allowed one with `would_deny`; the blocked counter is
 * untouched. A suspension is never let pass, nor is an agent outside the
 * shadow lists. Shadow mode never denies and audits every would-deny.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastParseOutboxText, parseOutboxFields } from '../../src/audit/event.js';
import { packEvent } from '../../src/engine/index.js';
import { compileProfile, type Profile } from '../../src/engine/profile.js';
import type { AuthorizeResult, Engine } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';
import { DIGEST } from '../support/pools.js';

type Allowed = Extract<AuthorizeResult, { allowed: true }>;

/** $1 per million tokens in and out: a hold of N tokens costs N µ$. */
function profile(o: {
  allowed?: string[];
  shadowRoles?: string[];
  shadowAgents?: string[];
}): Profile {
  return compileProfile({
    operation: 'op',
    rates: { model: 'm', inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 },
    leaseMs: 60_000,
    allowedRoles: o.allowed ?? ['coder', 'tester'],
    shadowRoles: o.shadowRoles,
    shadowAgents: o.shadowAgents,
  });
}

/** coder in shadow; tester not. */
const SHADOW = profile({ shadowRoles: ['coder'] });

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let engine: Engine;
  /** The library on the same engine, its policy putting coder in shadow mode. */
  let tg: Tollgate;

  beforeAll(async () => {
    ut = await makeEngine(kind);
    engine = ut.engine;
    tg = await createTollgate({ engine, policy: { roles: { coder: { shadow: true } } } });
  });
  afterAll(async () => {
    await tg.close();
    await ut.close();
  });

  async function register(
    o: {
      role?: string;
      sessionTokenLimit?: number;
      dailyLimitMicros?: number;
      requestsPerMinute?: number;
      tokensPerMinute?: number;
      poolId?: string;
    } = {},
  ): Promise<string> {
    const id = uid('sh');
    await engine.registerAgent({
      agentId: id,
      role: o.role ?? 'coder',
      sessionTokenLimit: o.sessionTokenLimit ?? 1_000_000,
      dailyLimitMicros: o.dailyLimitMicros ?? 1_000_000_000,
      requestsPerMinute: o.requestsPerMinute,
      tokensPerMinute: o.tokensPerMinute,
      poolId: o.poolId,
      keyDigest: DIGEST,
      metadata: '{}',
      actor: 'admin',
    });
    return id;
  }

  function authorize(
    agentId: string,
    tokens: number,
    p: Profile = SHADOW,
    requestId?: string,
  ): Promise<AuthorizeResult> {
    return engine.authorize({
      agentId,
      profile: p,
      estimatedTokens: tokens,
      requestId,
      actor: 'library',
    });
  }

  /** The agent's decision events, oldest first (any shard: a pooled agent lives on its root's). */
  async function decisions(agentId: string): Promise<Record<string, string>[]> {
    return (await engine.readOutbox())
      .map((e) => e.fields)
      .filter((f) => f.agent_id === agentId && f.type === 'decision');
  }

  function allowed(r: AuthorizeResult): Allowed {
    expect(r.allowed, JSON.stringify(r)).toBe(true);
    return r as Allowed;
  }

  /** Each would-deny event: allowed, the hold's reservation, `would_deny`, parsed alike by both parsers. */
  function expectShadowEvent(e: Record<string, string> | undefined, r: Allowed): void {
    expect(e).toMatchObject({
      allowed: '1',
      error_code: '',
      reservation_id: r.reservationId,
      would_deny: r.wouldDeny?.code,
      exceeded: r.wouldDeny?.exceeded ?? '',
    });
    const parsed = parseOutboxFields(e as Record<string, string>);
    expect(parsed).toMatchObject({ allowed: true, would_deny: r.wouldDeny?.code });
    expect(fastParseOutboxText(packEvent(e as Record<string, string>))).toEqual(parsed);
  }

  it('session and daily limits in shadow: allowed and held, would_deny answered and audited, nothing blocked', async () => {
    const id = await register({ sessionTokenLimit: 1_000, dailyLimitMicros: 1_500 });
    const first = allowed(await authorize(id, 800));
    expect(first.wouldDeny).toBeUndefined();
    const session = allowed(await authorize(id, 300));
    expect(session.wouldDeny).toEqual({ code: 'BUDGET_EXCEEDED', exceeded: 'session' });
    expect(session).toMatchObject({
      replayed: false,
      reservationState: 'open',
      holdCostMicros: 300,
    });
    const s = await engine.status(id);
    expect(s).toMatchObject({
      sessionTokensReserved: 1_100,
      dailyReservedMicros: 1_100,
      operationsBlocked: 0,
    });
    const events = await decisions(id);
    expect(events).toHaveLength(2);
    expect(events[0]?.would_deny).toBeUndefined();
    expectShadowEvent(events[1], session);

    // The daily limit (the session's passes).
    const day = await register({ dailyLimitMicros: 1_500 });
    allowed(await authorize(day, 800));
    const daily = allowed(await authorize(day, 800));
    expect(daily.wouldDeny).toEqual({ code: 'BUDGET_EXCEEDED', exceeded: 'daily' });
    expectShadowEvent((await decisions(day))[1], daily);
    expect((await engine.status(day))?.dailyReservedMicros).toBe(1_600);
  });

  it('settle after a shadow hold works, and spend may pass the limit', async () => {
    const id = await register({ sessionTokenLimit: 1_000 });
    allowed(await authorize(id, 900));
    const over = allowed(await authorize(id, 900));
    expect(over.wouldDeny?.code).toBe('BUDGET_EXCEEDED');
    for (const reservationId of [over.reservationId]) {
      const settled = await engine.settle({
        agentId: id,
        reservationId,
        inputTokens: 600,
        outputTokens: 300,
        result: 'success',
        actor: 'library',
      });
      expect(settled.outcome).toBe('settled');
    }
    const s = await engine.status(id);
    expect(s).toMatchObject({ sessionTokensUsed: 900, sessionTokensReserved: 900 });
    // Used plus held is past the limit; shadow mode still allows, still says so.
    const again = allowed(await authorize(id, 100));
    expect(again.wouldDeny).toEqual({ code: 'BUDGET_EXCEEDED', exceeded: 'session' });
    expect((await engine.status(id))?.operationsBlocked).toBe(0);
  });

  it('rate limits in shadow: past the limit every request is allowed and a would-deny', async () => {
    const id = await register({ requestsPerMinute: 2 });
    const rs = [];
    for (let i = 0; i < 5; i++) rs.push(allowed(await authorize(id, 10)));
    expect(rs.map((r) => r.wouldDeny?.code ?? null)).toEqual([
      null,
      null,
      'RATE_LIMITED',
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
    expect(rs[2]?.wouldDeny).toEqual({ code: 'RATE_LIMITED', exceeded: 'requests_per_minute' });
    const events = await decisions(id);
    expect(events.filter((e) => e.would_deny === 'RATE_LIMITED')).toHaveLength(3);
    expect((await engine.status(id))?.operationsBlocked).toBe(0);
  });

  it('RBAC in shadow: a role not allowed the operation is allowed, would_deny RBAC_DENIED', async () => {
    const id = await register();
    const r = allowed(
      await authorize(id, 10, profile({ allowed: ['tester'], shadowRoles: ['coder'] })),
    );
    expect(r.wouldDeny).toEqual({ code: 'RBAC_DENIED' });
    expectShadowEvent((await decisions(id))[0], r);
  });

  it("a pool's limit in shadow: allowed, held under the pool, would_deny names the pool", async () => {
    const poolId = uid('shp');
    await engine.createPool({ poolId, dailyLimitMicros: 1_000, actor: 'admin' });
    const id = await register({ poolId });
    allowed(await authorize(id, 800));
    const r = allowed(await authorize(id, 800));
    expect(r.wouldDeny).toEqual({ code: 'BUDGET_EXCEEDED', exceeded: 'pool', poolId });
    expect((await engine.poolStatus(poolId))?.dailyReservedMicros).toBe(1_600);
    const events = await decisions(id);
    expectShadowEvent(events[1], r);
    expect(events[1]?.pool_id).toBe(poolId);
    expect(parseOutboxFields(events[1] as Record<string, string>).pool_id).toBe(poolId);
    // Its settle closes the hold under the pool as any other.
    await engine.settle({
      agentId: id,
      reservationId: r.reservationId,
      inputTokens: 800,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    expect(await engine.poolStatus(poolId)).toMatchObject({
      dailyReservedMicros: 800,
      dailyCostMicros: 800,
    });
  });

  it("a budget's denial in shadow: the pool's limits it skipped still count the request", async () => {
    const poolId = uid('shp');
    await engine.createPool({ poolId, requestsPerMinute: 2, actor: 'admin' });
    const id = await register({ poolId, sessionTokenLimit: 100 });
    for (let i = 0; i < 2; i++) {
      const r = allowed(await authorize(id, 200));
      expect(r.wouldDeny).toEqual({ code: 'BUDGET_EXCEEDED', exceeded: 'session' });
    }
    expect((await engine.poolStatus(poolId))?.dailyReservedMicros).toBe(400);
    // The two shadow holds took the pool's 2 requests: an agent not in shadow is denied by it.
    const tester = await register({ poolId, role: 'tester' });
    expect(await authorize(tester, 10)).toMatchObject({
      allowed: false,
      code: 'RATE_LIMITED',
      level: poolId,
    });
    // In shadow, the pool's rate limit is the denial answered (the budget's comes first).
    const r = allowed(await authorize(tester, 10, profile({ shadowRoles: ['tester'] })));
    expect(r.wouldDeny).toEqual({
      code: 'RATE_LIMITED',
      exceeded: 'requests_per_minute',
      poolId,
    });
  });

  it('a suspended agent is denied in shadow mode; a role not in shadow is denied', async () => {
    const id = await register();
    await engine.updateAgent({
      agentId: id,
      event: 'agent_suspended',
      actor: 'admin',
      set: { status: 'suspended' },
    });
    const r = await authorize(id, 10);
    expect(r).toMatchObject({ allowed: false, code: 'AGENT_SUSPENDED' });
    expect((await engine.status(id))?.operationsBlocked).toBe(1);

    const tester = await register({ role: 'tester', sessionTokenLimit: 100 });
    const d = await authorize(tester, 200);
    expect(d).toMatchObject({ allowed: false, code: 'BUDGET_EXCEEDED', exceeded: 'session' });
    const events = await decisions(tester);
    expect(events[0]).toMatchObject({ allowed: '0', error_code: 'BUDGET_EXCEEDED' });
    expect(events[0]?.would_deny).toBeUndefined();
  });

  it('per agent: the agent named is in shadow, another of its role is not', async () => {
    const named = await register({ role: 'tester', sessionTokenLimit: 100 });
    const other = await register({ role: 'tester', sessionTokenLimit: 100 });
    const p = profile({ shadowAgents: [named] });
    const r = allowed(await authorize(named, 200, p));
    expect(r.wouldDeny).toEqual({ code: 'BUDGET_EXCEEDED', exceeded: 'session' });
    expectShadowEvent((await decisions(named))[0], r);
    expect(await authorize(other, 200, p)).toMatchObject({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
    });
  });

  it('a request id sent again answers the shadow hold, replayed, holding nothing new', async () => {
    const id = await register({ sessionTokenLimit: 100 });
    const r = allowed(await authorize(id, 200, SHADOW, 'rq-shadow-1'));
    expect(r.wouldDeny?.code).toBe('BUDGET_EXCEEDED');
    const again = allowed(await authorize(id, 200, SHADOW, 'rq-shadow-1'));
    expect(again).toMatchObject({ replayed: true, reservationId: r.reservationId });
    expect((await engine.status(id))?.sessionTokensReserved).toBe(200);
  });

  it('the library: decisions carry would_deny, executeAgentOperation runs, a model call goes ahead', async () => {
    expect(tg.policy.shadow).toEqual({ roles: ['coder'], agents: [] });
    const id = uid('shl');
    await tg.identity.registerAgent(id, 'coder', {}, { sessionTokenLimit: 100 });
    const rbac = await tg.guard.checkPermission(id, 'deploy', { estimatedTokens: 10 });
    expect(rbac).toMatchObject({ allowed: true, would_deny: { error_code: 'RBAC_DENIED' } });
    let ran = false;
    const r = await tg.guard.executeAgentOperation(
      id,
      'read_file',
      { estimatedTokens: 1_000 },
      async () => {
        ran = true;
        return { inputTokens: 300, outputTokens: 200 };
      },
    );
    expect(ran).toBe(true);
    expect(r.budget_status.session.tokens_used).toBe(500);
    const call = await tg.guard.authorizeModelCall(id, {
      model: 'gpt-4o',
      inputTokens: 1_000,
      outputTokens: 500,
    });
    expect(call).toMatchObject({
      allowed: true,
      held_tokens: { input: 1_000, output: 500 },
      would_deny: { error_code: 'BUDGET_EXCEEDED', exceeded: 'session' },
    });
  });

  it('60 concurrent decisions past the limit: all allowed, a would-deny event for each one past it', async () => {
    const id = await register({ sessionTokenLimit: 1_000 });
    const rs = await Promise.all(Array.from({ length: 60 }, () => authorize(id, 100)));
    expect(rs.every((r) => r.allowed)).toBe(true);
    const shadowed = rs.filter((r) => r.allowed && r.wouldDeny !== undefined);
    // Exactly those after the limit is passed: 10 holds of 100 fit 1,000.
    expect(shadowed).toHaveLength(50);
    const events = await decisions(id);
    expect(events).toHaveLength(60);
    expect(events.filter((e) => e.allowed === '1')).toHaveLength(60);
    const would = events.filter((e) => e.would_deny === 'BUDGET_EXCEEDED');
    expect(would).toHaveLength(50);
    expect(new Set(would.map((e) => e.reservation_id))).toEqual(
      new Set(shadowed.map((r) => (r as Allowed).reservationId)),
    );
    expect(await engine.status(id)).toMatchObject({
      sessionTokensReserved: 6_000,
      operationsBlocked: 0,
    });
  });
});
