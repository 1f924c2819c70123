/**
 * Coalesced authorize (src/engine/redis/authorize-batcher.ts,
 * lua/authorize-1.lua): decisions that arrive together go to Redis in one
 * script call per shard, and each must come out exactly as if it had been
 * called alone, in order. The same scenarios run on MemoryEngine, which
 * decides one at a time: it is the reference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentKeys } from '../../src/engine/keys.js';
import type { AuthorizeInput, AuthorizeResult } from '../../src/engine/types.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';

const RATES = { model: 'm', inputMicrosPerMillion: 3_000_000, outputMicrosPerMillion: 15_000_000 };

function input(agentId: string, over: Partial<AuthorizeInput> = {}): AuthorizeInput {
  return {
    agentId,
    operation: 'read_file',
    estimatedTokens: 1_000,
    rates: RATES,
    leaseMs: 60_000,
    allowedRoles: ['coder'],
    actor: 'library',
    ...over,
  };
}

/** What a decision says, without the clock. */
function shape(r: AuthorizeResult) {
  if (!r.allowed) {
    return { allowed: false, code: r.code, reserved: r.status?.sessionTokensReserved };
  }
  return {
    allowed: true,
    replayed: r.replayed,
    hold: r.holdCostMicros,
    reserved: r.status.sessionTokensReserved,
  };
}

describe.each(ENGINE_KINDS)('%s engine: decisions that arrive together', (kind) => {
  let ut: EngineUnderTest;
  beforeAll(async () => {
    ut = await makeEngine(kind);
  });
  afterAll(async () => {
    await ut.close();
  });

  async function register(role = 'coder', sessionTokenLimit = 10_000) {
    const agentId = uid('batch');
    await ut.engine.registerAgent({
      agentId,
      role,
      sessionTokenLimit,
      dailyLimitMicros: 1_000_000_000,
      keyDigest: 'a'.repeat(64),
      metadata: '{}',
      actor: 'admin',
    });
    return agentId;
  }

  it('one agent, 14 at once against a 10-hold limit: the first 10 hold, in order, the rest are denied', async () => {
    const id = await register();
    const calls = ut.calls.length;
    const results = await Promise.all(
      Array.from({ length: 14 }, () => ut.engine.authorize(input(id))),
    );
    expect(results.map(shape)).toEqual([
      ...Array.from({ length: 10 }, (_, k) => ({
        allowed: true,
        replayed: false,
        hold: 15_000,
        reserved: (k + 1) * 1_000,
      })),
      ...Array.from({ length: 4 }, () => ({
        allowed: false,
        code: 'BUDGET_EXCEEDED',
        reserved: 10_000,
      })),
    ]);
    const ids = results.flatMap((r) => (r.allowed ? [r.reservationId] : []));
    expect(new Set(ids).size).toBe(10);
    if (kind !== 'memory') {
      // One script call for all 14 (they share a shard and a tick).
      const batches = ut.calls.slice(calls).filter((c) => c.script === 'authorize');
      expect(batches.length).toBe(1);
      // One profile (same operation, 9 values), then 7 values per decision.
      const args = batches[0]?.args ?? [];
      expect(args[3]).toBe(1);
      expect((args.length - 4 - 9) / 7).toBe(14);
    }
    const s = await ut.engine.status(id);
    expect(s).toMatchObject({ sessionTokensReserved: 10_000, operationsBlocked: 4 });
  });

  it('the same request_id twice in one batch holds once; a different one conflicts', async () => {
    const id = await register();
    const [a, b, c] = await Promise.allSettled([
      ut.engine.authorize(input(id, { requestId: 'rq-1' })),
      ut.engine.authorize(input(id, { requestId: 'rq-1' })),
      ut.engine.authorize(input(id, { requestId: 'rq-1', estimatedTokens: 7 })),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('fulfilled');
    const first = (a as PromiseFulfilledResult<AuthorizeResult>).value;
    const second = (b as PromiseFulfilledResult<AuthorizeResult>).value;
    expect(first.allowed && !first.replayed).toBe(true);
    expect(second.allowed && second.replayed).toBe(true);
    if (first.allowed && second.allowed) expect(second.reservationId).toBe(first.reservationId);
    expect(c).toMatchObject({ status: 'rejected', reason: { code: 'IDEMPOTENCY_CONFLICT' } });
    expect(await ut.engine.status(id)).toMatchObject({ sessionTokensReserved: 1_000 });
  });

  it('many agents, mixed outcomes, across shards: each decision is its own', async () => {
    const ok = await Promise.all(Array.from({ length: 24 }, () => register()));
    const tester = await register('tester');
    const ghost = uid('ghost');
    const bad = await register();
    const jobs = [
      ...ok.map((id) => ut.engine.authorize(input(id)).then(shape)),
      ut.engine.authorize(input(tester)).then(shape),
      ut.engine.authorize(input(ghost)).then(shape),
      ut.engine
        .authorize(input(bad, { keyDigest: 'b'.repeat(64) }))
        .then(shape, (e: { code: string }) => e.code),
      ...ok.map((id) => ut.engine.authorize(input(id, { estimatedTokens: 9_500 })).then(shape)),
    ];
    const got = await Promise.all(jobs);
    expect(got).toEqual([
      ...ok.map(() => ({ allowed: true, replayed: false, hold: 15_000, reserved: 1_000 })),
      { allowed: false, code: 'RBAC_DENIED', reserved: 0 },
      { allowed: false, code: 'AGENT_NOT_FOUND', reserved: undefined },
      'UNAUTHENTICATED',
      ...ok.map(() => ({ allowed: false, code: 'BUDGET_EXCEEDED', reserved: 1_000 })),
    ]);
    if (kind !== 'memory') {
      const shards = new Set(ok.map((id) => agentKeys(id, ut.engine.shards).shard));
      expect(shards.size).toBeGreaterThan(1);
    }
  });

  it('decisions of different operations and models in one batch each use their own', async () => {
    const id = await register('coder', 1_000_000);
    const calls = ut.calls.length;
    const cheap = {
      model: 'cheap',
      inputMicrosPerMillion: 1_000_000,
      outputMicrosPerMillion: 2_000_000,
    };
    const got = await Promise.all([
      ut.engine.authorize(input(id)),
      ut.engine.authorize(input(id, { operation: 'write_file', allowedRoles: ['tester'] })),
      ut.engine.authorize(input(id, { rates: cheap })),
      ut.engine.authorize(input(id, { leaseMs: 5_000 })),
      ut.engine.authorize(input(id)),
    ]);
    expect(got.map(shape)).toEqual([
      { allowed: true, replayed: false, hold: 15_000, reserved: 1_000 },
      { allowed: false, code: 'RBAC_DENIED', reserved: 1_000 },
      { allowed: true, replayed: false, hold: 2_000, reserved: 2_000 },
      { allowed: true, replayed: false, hold: 15_000, reserved: 3_000 },
      { allowed: true, replayed: false, hold: 15_000, reserved: 4_000 },
    ]);
    const [a, , , short] = got;
    if (a?.allowed && short?.allowed) {
      expect(a.leaseEndMs - short.leaseEndMs).toBeGreaterThanOrEqual(55_000 - 1_000);
    }
    if (kind !== 'memory') {
      const batches = ut.calls.slice(calls).filter((c) => c.script === 'authorize');
      expect(batches.length).toBe(1);
      expect(batches[0]?.args[3]).toBe(4); // four distinct profiles, each sent once
    }
    const events = (await ut.engine.readOutbox())
      .map((e) => e.fields)
      .filter((f) => f.agent_id === id && f.type === 'decision');
    expect(events.map((f) => [f.operation, f.model, f.cost, f.allowed])).toEqual([
      ['read_file', 'm', '15000', '1'],
      ['write_file', 'm', '0', '0'],
      ['read_file', 'cheap', '2000', '1'],
      ['read_file', 'm', '15000', '1'],
      ['read_file', 'm', '15000', '1'],
    ]);
  });

  it('prices a rates object that changed since the last call at its new rates (only frozen ones are remembered)', async () => {
    const id = await register();
    const rates = {
      model: 'mutable',
      inputMicrosPerMillion: 1_000_000,
      outputMicrosPerMillion: 1_000_000,
    };
    const allowedRoles = Object.freeze(['coder']); // the same list both times, as a policy gives it
    const first = await ut.engine.authorize(input(id, { rates, allowedRoles }));
    rates.inputMicrosPerMillion = 5_000_000;
    rates.outputMicrosPerMillion = 5_000_000;
    const second = await ut.engine.authorize(input(id, { rates, allowedRoles }));
    expect([shape(first), shape(second)]).toEqual([
      { allowed: true, replayed: false, hold: 1_000, reserved: 1_000 },
      { allowed: true, replayed: false, hold: 5_000, reserved: 2_000 },
    ]);
  });
});
