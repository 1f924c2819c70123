import { afterEach, describe, expect, it, vi } from 'vitest';
import { DAY_MS } from '../../src/engine/clock.js';
import { shardOf } from '../../src/engine/keys.js';
import { MemoryEngine, type RestoredAgent } from '../../src/engine/memory/index.js';
import type {
  AuthorizeInput,
  AuthorizeResult,
  RegisterInput,
  SettleInput,
  UsageInput,
} from '../../src/engine/types.js';
import { isTollgateError } from '../../src/errors.js';

const D1 = 'a'.repeat(64);
const D2 = 'b'.repeat(64);
const RATES = {
  model: 'gpt-x',
  inputMicrosPerMillion: 3_000_000,
  outputMicrosPerMillion: 15_000_000,
};
const CHEAP = { model: 'mini', inputMicrosPerMillion: 150_000, outputMicrosPerMillion: 600_000 };
const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function register(e: MemoryEngine, agentId: string, over: Partial<RegisterInput> = {}) {
  return e.registerAgent({
    agentId,
    role: 'coder',
    sessionTokenLimit: 80_000,
    dailyLimitMicros: 8_000_000,
    keyDigest: D1,
    metadata: '{"team":"x"}',
    actor: 'admin',
    ...over,
  });
}

function authorize(e: MemoryEngine, agentId: string, over: Partial<AuthorizeInput> = {}) {
  return e.authorize({
    agentId,
    operation: 'read_file',
    estimatedTokens: 5000,
    rates: RATES,
    leaseMs: 60_000,
    allowedRoles: ['coder', 'tester'],
    actor: 'library',
    ...over,
  });
}

function settle(e: MemoryEngine, over: Partial<SettleInput>) {
  return e.settle({
    inputTokens: 1000,
    outputTokens: 500,
    result: 'success',
    actor: 'library',
    ...over,
  });
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isTollgateError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an error');
}

/** The engine's clock at `ms` (UTC), whatever the real time. */
function at(e: MemoryEngine, ms: number): void {
  e.setClockOffsetForTests(ms - Date.now());
}

/** The agent's latest event (its shard's outbox is in order). */
async function lastEvent(e: MemoryEngine, agentId: string): Promise<Record<string, string>> {
  return (await eventsOf(e, agentId)).at(-1) ?? {};
}

async function eventsOf(e: MemoryEngine, agentId: string): Promise<Record<string, string>[]> {
  return (await e.readOutbox(shardOf(agentId, e.shards))).map((x) => x.fields);
}

describe('MemoryEngine', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('registers, replays the same creation, refuses another, and audits the whole state', async () => {
    const e = new MemoryEngine();
    expect(e.kind).toBe('memory');
    expect(e.shards).toBe(16);
    const s = await register(e, 'a1');
    expect(s.metadata).toBe('{"team":"x"}');
    expect(s.status).toMatchObject({
      agentId: 'a1',
      role: 'coder',
      status: 'active',
      sessionTokenLimit: 80_000,
      dailyLimitMicros: 8_000_000,
      sessionTokensUsed: 0,
      operationsBlocked: 0,
    });
    expect(s.status.sessionId).toMatch(/^a1\.[0-9a-f]{16}$/);
    expect(s.createdMs).toBe(s.status.nowMs);
    expect(s.replayed).toBe(false);
    expect(await errorOf(register(e, 'a1', { keyDigest: D2 }))).toEqual({
      code: 'CONFLICT',
      message: 'Agent a1 already exists',
    });
    // The same creation run twice (same key digest): the snapshot, nothing written.
    const again = await register(e, 'a1', { role: 'other', sessionTokenLimit: 1 });
    expect(again).toEqual({
      ...s,
      replayed: true,
      status: { ...s.status, nowMs: again.status.nowMs },
    });
    expect((await eventsOf(e, 'a1')).length).toBe(1);
    expect((await errorOf(register(e, 'bad:id'))).code).toBe('VALIDATION_FAILED');

    const [ev] = await eventsOf(e, 'a1');
    expect(Object.keys(ev ?? {})).toEqual([
      'event_id',
      'at',
      'role',
      'status',
      'session_id',
      'session_started_at',
      'session_token_limit',
      'daily_cost_limit',
      'key_digest',
      'created_at',
      'metadata',
      'requests_per_minute',
      'tokens_per_minute',
      'monthly_cost_limit',
      'time_zone',
      'type',
      'agent_id',
      'actor',
    ]);
    expect(ev).toMatchObject({
      type: 'agent_registered',
      agent_id: 'a1',
      session_token_limit: '80000',
      daily_cost_limit: '8000000',
      requests_per_minute: '0',
      tokens_per_minute: '0',
      monthly_cost_limit: '0',
      time_zone: 'UTC',
      key_digest: D1,
      created_at: String(s.createdMs),
      actor: 'admin',
    });
    expect(ev?.event_id).toMatch(UUID7);
  });

  it('authorizes, denies, replays and refuses like the script', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    await register(e, 't1', {
      role: 'tester',
      sessionTokenLimit: 10_000,
      dailyLimitMicros: 100_000,
    });

    const ok = await authorize(e, 'a1', { requestId: 'req-1' });
    if (!ok.allowed) throw new Error('denied');
    expect(ok.reservationId).toMatch(/^a1\.[0-9a-f]{16}$/);
    expect(ok.holdCostMicros).toBe(75_000); // 5000 tokens at the higher rate, 15 $/M
    expect(ok.leaseEndMs).toBe(ok.status.nowMs + 60_000);
    expect(ok.replayed).toBe(false);
    expect(ok.status).toMatchObject({ sessionTokensReserved: 5000, dailyReservedMicros: 75_000 });
    const ev = await lastEvent(e, 'a1');
    expect(ev).toMatchObject({
      type: 'decision',
      agent_id: 'a1',
      allowed: '1',
      error_code: '',
      exceeded: '',
      estimated_tokens: '5000',
      cost: '75000',
      model: 'gpt-x',
      reservation_id: ok.reservationId,
      request_id: 'req-1',
      session_utilization: '0.00',
      daily_utilization: '0.00',
      actor: 'library',
    });
    expect(Number.parseInt(ev.event_id?.replace(/-/g, '').slice(0, 12) ?? '', 16)).toBe(
      Number(ev.at),
    );

    const again = await authorize(e, 'a1', { requestId: 'req-1' });
    expect(again).toMatchObject({ allowed: true, replayed: true, reservationId: ok.reservationId });
    expect(again.status?.sessionTokensReserved).toBe(5000);
    expect(
      await errorOf(authorize(e, 'a1', { requestId: 'req-1', estimatedTokens: 6000 })),
    ).toEqual({
      code: 'IDEMPOTENCY_CONFLICT',
      message: 'request_id was already used for a different request',
    });
    expect(await errorOf(authorize(e, 'a1', { keyDigest: D2 }))).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'Invalid agent key',
    });
    expect((await authorize(e, 'a1', { keyDigest: D1 })).allowed).toBe(true);

    const before = (await e.readOutbox()).length;
    expect(await authorize(e, 'ghost', { requestId: 'g' })).toEqual({
      allowed: false,
      code: 'AGENT_NOT_FOUND',
      replayed: false,
      status: null,
    });
    // Nothing is written before the caller is known: no event.
    expect((await e.readOutbox()).length).toBe(before);
    const rbac = await authorize(e, 'a1', { allowedRoles: ['tester'] });
    expect(rbac).toMatchObject({ allowed: false, code: 'RBAC_DENIED' });
    expect(rbac).not.toHaveProperty('exceeded');
    expect(await authorize(e, 'a1', { estimatedTokens: 71_000 })).toMatchObject({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
    });
    const daily = await authorize(e, 't1', { estimatedTokens: 9000 });
    expect(daily).toMatchObject({ allowed: false, code: 'BUDGET_EXCEEDED', exceeded: 'daily' });
    expect(daily.status?.operationsBlocked).toBe(1);
    expect(await lastEvent(e, 't1')).toMatchObject({
      allowed: '0',
      error_code: 'BUDGET_EXCEEDED',
      exceeded: 'daily',
      cost: '0',
      reservation_id: '',
    });
    await e.updateAgent({
      agentId: 't1',
      event: 'agent_suspended',
      actor: 'admin',
      set: { status: 'suspended' },
    });
    expect(await authorize(e, 't1', { estimatedTokens: 1 })).toMatchObject({
      allowed: false,
      code: 'AGENT_SUSPENDED',
    });
    expect((await errorOf(authorize(e, 'a1', { estimatedTokens: 0 }))).code).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('checks every authorize input, also after the same objects passed before', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const rates = Object.freeze({ ...RATES });
    const roles = Object.freeze(['coder']);
    const ok = { rates, allowedRoles: roles };
    expect((await authorize(e, 'a1', ok)).allowed).toBe(true);
    const field = async (over: Partial<AuthorizeInput>) => {
      try {
        await authorize(e, 'a1', { ...ok, ...over });
      } catch (err) {
        if (isTollgateError(err)) return err.details?.field;
        throw err;
      }
      return 'passed';
    };
    expect(await field({ operation: '' })).toBe('operation');
    expect(await field({ operation: 'read:file' })).toBe('operation');
    expect(await field({ agentId: 'a1:x' })).toBe('agent_id');
    // A list or rates that can change is checked each time.
    const open = ['coder'];
    expect(await field({ allowedRoles: open })).toBe('passed');
    open.push('bad:role');
    expect(await field({ allowedRoles: open })).toBe('role');
    const loose = { ...RATES };
    expect(await field({ rates: loose })).toBe('passed');
    loose.model = 'bad model';
    expect(await field({ rates: loose })).toBe('model');
    expect(await field({ rates: { ...RATES, inputMicrosPerMillion: -1 } })).toBe('input_rate');
    expect(await field({})).toBe('passed');
  });

  it('settles by id and by operation, once', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const r = await authorize(e, 'a1', { requestId: 'q' });
    if (!r.allowed) throw new Error('denied');
    const s = await settle(e, { reservationId: r.reservationId });
    expect(s.outcome).toBe('settled');
    expect(s.costMicros).toBe(10_500); // 1000 in at 3 $/M + 500 out at 15 $/M
    expect(s.status).toMatchObject({
      sessionTokensUsed: 1500,
      sessionTokensReserved: 0,
      sessionCostMicros: 10_500,
      dailyCostMicros: 10_500,
      dailyReservedMicros: 0,
    });
    expect(await lastEvent(e, 'a1')).toMatchObject({
      type: 'settle',
      operation: 'read_file',
      input_tokens: '1000',
      output_tokens: '500',
      cost: '10500',
      model: 'gpt-x',
      reservation_id: r.reservationId,
      request_id: 'q',
      result: 'success',
    });
    // The same settle again: the recorded cost, nothing counted again.
    const twice = await settle(e, { reservationId: r.reservationId });
    expect(twice).toMatchObject({ outcome: 'already_closed', costMicros: 10_500 });
    expect(twice.status.sessionTokensUsed).toBe(1500);

    await authorize(e, 'a1', { operation: 'write_file' });
    const none = await settle(e, { agentId: 'a1', operation: 'deploy' });
    expect(none).toMatchObject({ outcome: 'no_hold', reservationId: '', costMicros: 0 });
    // Priced at the hold's rates (a settle has none of its own).
    const byOp = await settle(e, { agentId: 'a1', operation: 'write_file' });
    expect(byOp).toMatchObject({ outcome: 'settled', costMicros: 10_500 });
    expect(byOp.status.sessionTokensReserved).toBe(0);

    expect(await errorOf(settle(e, { reservationId: 'a1.0123456789abcdef' }))).toEqual({
      code: 'RESERVATION_NOT_FOUND',
      message: 'Reservation not found',
    });
    expect((await errorOf(settle(e, { reservationId: 'zz.0123456789abcdef' }))).code).toBe(
      'RESERVATION_NOT_FOUND',
    );
    expect(await errorOf(settle(e, { agentId: 'zz', operation: 'x' }))).toEqual({
      code: 'NOT_FOUND',
      message: 'Agent zz not found',
    });
    expect((await errorOf(settle(e, { reservationId: r.reservationId, keyDigest: D2 }))).code).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('releases once, and records usage without a hold', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const r = await authorize(e, 'a1');
    if (!r.allowed) throw new Error('denied');
    const rel = await e.release({ reservationId: r.reservationId, actor: 'admin' });
    expect(rel).toMatchObject({ outcome: 'released', reservationId: r.reservationId });
    expect(rel.status.dailyReservedMicros).toBe(0);
    expect(await lastEvent(e, 'a1')).toMatchObject({
      type: 'release',
      result: 'released',
      cost: '0',
      input_tokens: '0',
      actor: 'admin',
    });
    expect((await e.release({ reservationId: r.reservationId, actor: 'admin' })).outcome).toBe(
      'already_closed',
    );
    expect(
      (await errorOf(e.release({ reservationId: 'zz.0123456789abcdef', actor: 'admin' }))).code,
    ).toBe('RESERVATION_NOT_FOUND');

    const u = await e.recordUsage({
      agentId: 'a1',
      operation: 'chat',
      inputTokens: 2000,
      outputTokens: 1000,
      rates: RATES,
      result: 'success',
      actor: 'library',
    });
    expect(u.costMicros).toBe(21_000);
    expect(u.status).toMatchObject({ sessionTokensUsed: 3000, dailyCostMicros: 21_000 });
    expect(await lastEvent(e, 'a1')).toMatchObject({
      type: 'usage',
      operation: 'chat',
      cost: '21000',
      session_utilization: '3.75',
      daily_utilization: '0.26',
    });
    expect(
      (
        await errorOf(
          e.recordUsage({
            agentId: 'zz',
            inputTokens: 1,
            outputTokens: 0,
            rates: RATES,
            result: 'success',
            actor: 'library',
          }),
        )
      ).code,
    ).toBe('NOT_FOUND');
  });

  it('starts sessions, updates, lists, reads and deletes agents', async () => {
    const e = new MemoryEngine();
    await register(e, 'b2');
    await register(e, 'a1');
    await e.recordUsage({
      agentId: 'a1',
      inputTokens: 100,
      outputTokens: 0,
      rates: RATES,
      result: 'success',
      actor: 'library',
    });
    const first = (await e.status('a1'))?.sessionId;
    const ch = await e.startSession({ agentId: 'a1', endSessionId: first, actor: 'agent' });
    expect(ch.ended).toMatchObject({
      sessionId: first,
      tokensUsed: 100,
      costMicros: 300,
      dailyCostMicros: 300,
    });
    expect(ch.status.sessionId).not.toBe(first);
    expect(ch.status).toMatchObject({ sessionTokensUsed: 0, dailyCostMicros: 300 });
    const evs = (await eventsOf(e, 'a1')).slice(-2);
    expect(evs.map((x) => x.type)).toEqual(['session_ended', 'session_started']);
    expect(evs[0]).toMatchObject({ input_tokens: '', tokens_used: '100', cost: '300' });
    expect(evs[0]?.event_id?.slice(-4)).toBe('0000');
    expect(evs[1]?.event_id?.slice(-4)).toBe('0001');
    // Ending the session ended last again: its summary, replayed, nothing written.
    const replay = await e.startSession({ agentId: 'a1', endSessionId: first, actor: 'agent' });
    expect(replay).toMatchObject({ ended: ch.ended, replayed: true });
    expect(replay.status.sessionId).toBe(ch.status.sessionId);
    expect(
      await errorOf(
        e.startSession({ agentId: 'a1', endSessionId: 'a1.0123456789abcdef', actor: 'agent' }),
      ),
    ).toEqual({
      code: 'NOT_FOUND',
      message: 'Session not found or already ended',
    });

    const up = await e.updateAgent({
      agentId: 'a1',
      event: 'limits_changed',
      actor: 'admin',
      set: { sessionTokenLimit: 1000, keyDigest: D2, metadata: '{"v":2}' },
    });
    expect(up.metadata).toBe('{"v":2}');
    expect(up.status.sessionTokenLimit).toBe(1000);
    expect(await lastEvent(e, 'a1')).toMatchObject({ type: 'limits_changed', key_digest: D2 });
    expect(
      (
        await errorOf(
          e.updateAgent({ agentId: 'zz', event: 'agent_updated', actor: 'admin', set: {} }),
        )
      ).code,
    ).toBe('NOT_FOUND');

    const got = await e.getAgent('a1');
    expect(got).toMatchObject({ keyDigest: D2, metadata: '{"v":2}' });
    expect(await e.getAgent('zz')).toBeNull();
    expect(await e.status('zz')).toBeNull();
    expect((await e.listAgents()).map((x) => x.status.agentId)).toEqual(['a1', 'b2']);

    const last = await e.deleteAgent('a1', 'admin');
    expect(last.agentId).toBe('a1');
    expect(await lastEvent(e, 'a1')).toMatchObject({ type: 'agent_deleted', agent_id: 'a1' });
    expect((await errorOf(e.deleteAgent('a1', 'admin'))).code).toBe('NOT_FOUND');
    expect((await e.listAgents()).map((x) => x.status.agentId)).toEqual(['b2']);
    // Today's spend outlives the agent, as the day key does in Redis.
    const again = await register(e, 'a1');
    expect(again.status.dailyCostMicros).toBe(300);
  });

  it('frees expired leases, at most maxFreePerCall per call, oldest first', async () => {
    const e = new MemoryEngine({ maxFreePerCall: 3, shards: 4 });
    const t0 = Date.UTC(2026, 10, 24, 12);
    at(e, t0);
    await register(e, 'L', { sessionTokenLimit: 1_000_000 });
    const ids: string[] = [];
    for (let k = 0; k < 5; k++) {
      const r = await authorize(e, 'L', { leaseMs: 5000 - k * 100 });
      if (r.allowed) ids.push(r.reservationId);
    }
    at(e, t0 + 10_000);
    // listAgents is a read: nothing is freed.
    expect((await e.listAgents())[0]?.status.sessionTokensReserved).toBe(25_000);
    expect((await e.status('L'))?.sessionTokensReserved).toBe(10_000);
    const freed = (await e.readOutbox()).filter((x) => x.fields.result === 'lease_expired');
    expect(freed.map((x) => x.fields.reservation_id)).toEqual(ids.slice(2).reverse());
    expect(freed.map((x) => x.fields.event_id?.slice(-4))).toEqual(['0000', '0001', '0002']);
    expect(freed[0]?.fields.actor).toBe('system');
    expect((await e.status('L'))?.dailyReservedMicros).toBe(0);
    // A late settle still records the usage; a late release only closes the hold.
    const late = await settle(e, { reservationId: ids[0] });
    expect(late).toMatchObject({ outcome: 'settled', costMicros: 10_500 });
    expect(late.status.sessionTokensUsed).toBe(1500);
    const rel = await e.release({ reservationId: ids[1] ?? '', actor: 'admin' });
    expect(rel.outcome).toBe('released');
    expect((await lastEvent(e, 'L')).type).toBe('settle');
  });

  it('keeps the spend per UTC day', async () => {
    const e = new MemoryEngine();
    const usage = () =>
      e.recordUsage({
        agentId: 'd',
        inputTokens: 1000,
        outputTokens: 0,
        rates: RATES,
        result: 'success',
        actor: 'library',
      });
    at(e, Date.UTC(2026, 10, 24, 23, 59, 59));
    await register(e, 'd');
    expect((await usage()).status.dailyCostMicros).toBe(3000);
    at(e, Date.UTC(2026, 10, 25, 0, 0, 1));
    expect((await e.status('d'))?.dailyCostMicros).toBe(0);
    expect((await usage()).status.dailyCostMicros).toBe(3000);
    expect((await usage()).status.sessionCostMicros).toBe(9000);
    at(e, Date.UTC(2026, 10, 24, 18));
    expect((await e.status('d'))?.dailyCostMicros).toBe(3000);
  });

  it('drops closed reservations, request ids and old days after their time (real time, as Redis TTLs)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.UTC(2026, 10, 24, 12);
    vi.setSystemTime(t0);
    const e = new MemoryEngine();
    await register(e, 'x');
    const r = await authorize(e, 'x', { requestId: 'q1' });
    if (!r.allowed) throw new Error('denied');
    await settle(e, { reservationId: r.reservationId });
    await e.deleteAgent('x', 'admin');
    const st = (e as unknown as { st: { scopes: Map<string, unknown> } }).st;
    expect(st.scopes.has('x')).toBe(true);
    vi.setSystemTime(t0 + DAY_MS / 2);
    await e.status('x');
    expect(st.scopes.has('x')).toBe(true);
    // The day record lives until a day after its midnight, the month's until a day
    // after the month's end (2026-12-01); then nothing is left.
    vi.setSystemTime(t0 + 2 * DAY_MS);
    await e.status('x');
    expect(st.scopes.has('x')).toBe(true);
    vi.setSystemTime(t0 + 8 * DAY_MS);
    await e.status('x');
    expect(st.scopes.has('x')).toBe(false);
  });

  it('appends to the outbox in order, with increasing stream ids', async () => {
    const e = new MemoryEngine({ shards: 2 });
    for (const id of ['a', 'b', 'c', 'd']) await register(e, id);
    for (let k = 0; k < 20; k++) await authorize(e, k % 2 ? 'a' : 'b');
    const all = await e.readOutbox();
    expect(all.length).toBe(24);
    expect(all.map((x) => x.shard)).toEqual([...all.map((x) => x.shard)].sort());
    for (const s of [0, 1]) {
      const box = await e.readOutbox(s);
      expect(box.every((x) => x.shard === s)).toBe(true);
      const ids = box.map((x) => x.streamId.split('-').map(Number) as [number, number]);
      for (let k = 1; k < ids.length; k++) {
        const [m0, s0] = ids[k - 1] as [number, number];
        const [m1, s1] = ids[k] as [number, number];
        expect(m1 > m0 || (m1 === m0 && s1 > s0)).toBe(true);
      }
    }
    await e.close();
  });
});

function usage(e: MemoryEngine, agentId: string, over: Partial<UsageInput> = {}) {
  return e.recordUsage({
    agentId,
    operation: 'chat',
    inputTokens: 2000,
    outputTokens: 1000,
    rates: RATES,
    result: 'success',
    actor: 'library',
    ...over,
  });
}

/** The code and details of the error a call throws. */
async function detailsOf(p: Promise<unknown>): Promise<{ code: string; details: unknown }> {
  try {
    await p;
  } catch (e) {
    if (isTollgateError(e)) return { code: e.code, details: e.details };
    throw e;
  }
  throw new Error('expected an error');
}

/** Every event of the engine, all shards (to see that a call wrote nothing). */
async function eventCount(e: MemoryEngine): Promise<number> {
  return (await e.readOutbox()).length;
}

function held(r: AuthorizeResult): Extract<AuthorizeResult, { allowed: true }> {
  if (!r.allowed) throw new Error(`denied: ${r.code}`);
  return r;
}

describe('MemoryEngine: exactly once under faults', () => {
  it('answers a request id again with its hold and the state the hold is in now', async () => {
    const e = new MemoryEngine();
    const t0 = Date.UTC(2026, 10, 24, 12);
    at(e, t0);
    await register(e, 'a1');
    const fresh = held(await authorize(e, 'a1', { requestId: 'q-open' }));
    expect(fresh).toMatchObject({ replayed: false, reservationState: 'open' });
    const n = await eventCount(e);

    at(e, t0 + 1000);
    const open = held(await authorize(e, 'a1', { requestId: 'q-open' }));
    expect(open).toMatchObject({
      replayed: true,
      reservationState: 'open',
      reservationId: fresh.reservationId,
      leaseEndMs: fresh.leaseEndMs,
      holdCostMicros: fresh.holdCostMicros,
    });
    expect(open.status).toMatchObject({ sessionTokensReserved: 5000, operationsBlocked: 0 });
    expect(await eventCount(e)).toBe(n);

    // Priced with other rates, the same request: the hold's cost is answered.
    const dear = {
      ...RATES,
      inputMicrosPerMillion: 30_000_000,
      outputMicrosPerMillion: 30_000_000,
    };
    expect(
      held(await authorize(e, 'a1', { requestId: 'q-open', rates: dear })).holdCostMicros,
    ).toBe(75_000);

    await settle(e, { reservationId: fresh.reservationId });
    expect(await authorize(e, 'a1', { requestId: 'q-open' })).toMatchObject({
      replayed: true,
      reservationState: 'settled',
    });
    const rel = held(await authorize(e, 'a1', { requestId: 'q-rel' }));
    await e.release({ reservationId: rel.reservationId, actor: 'agent' });
    expect(await authorize(e, 'a1', { requestId: 'q-rel' })).toMatchObject({
      replayed: true,
      reservationState: 'released',
      reservationId: rel.reservationId,
    });

    // Lease passed: expired, whether or not the hold was freed yet (a replay frees nothing).
    const exp = held(await authorize(e, 'a1', { requestId: 'q-exp', leaseMs: 5000 }));
    at(e, t0 + 10_000);
    const m = await eventCount(e);
    const late = held(await authorize(e, 'a1', { requestId: 'q-exp' }));
    expect(late).toMatchObject({ replayed: true, reservationState: 'expired' });
    expect(late.leaseEndMs).toBe(exp.leaseEndMs);
    expect(late.status.sessionTokensReserved).toBe(5000);
    expect(await eventCount(e)).toBe(m);
    await e.status('a1');
    expect(await authorize(e, 'a1', { requestId: 'q-exp' })).toMatchObject({
      reservationState: 'expired',
    });
    expect(
      (await errorOf(authorize(e, 'a1', { requestId: 'q-exp', operation: 'write_file' }))).code,
    ).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('records a denial under its request id and answers it again, counting nothing', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1', { sessionTokenLimit: 6000 });
    const first = await authorize(e, 'a1', { requestId: 'big', estimatedTokens: 7000 });
    expect(first).toMatchObject({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
      replayed: false,
    });
    expect(first.status?.operationsBlocked).toBe(1);
    expect((await lastEvent(e, 'a1')).request_id).toBe('big');
    const n = await eventCount(e);

    // Even once the request would fit, its id answers what was decided.
    await e.updateAgent({
      agentId: 'a1',
      event: 'limits_changed',
      actor: 'admin',
      set: { sessionTokenLimit: 100_000 },
    });
    const again = await authorize(e, 'a1', { requestId: 'big', estimatedTokens: 7000 });
    expect(again).toEqual({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
      replayed: true,
      status: expect.objectContaining({ operationsBlocked: 1, sessionTokenLimit: 100_000 }),
    });
    expect(await eventCount(e)).toBe(n + 1); // the update's event only
    expect(
      (await errorOf(authorize(e, 'a1', { requestId: 'big', estimatedTokens: 6999 }))).code,
    ).toBe('IDEMPOTENCY_CONFLICT');
    const rbac = await authorize(e, 'a1', { requestId: 'r', allowedRoles: ['tester'] });
    expect(rbac).toMatchObject({ code: 'RBAC_DENIED', replayed: false });
    const rbac2 = await authorize(e, 'a1', { requestId: 'r', allowedRoles: ['coder'] });
    expect(rbac2).toMatchObject({ allowed: false, code: 'RBAC_DENIED', replayed: true });
    expect(rbac2).not.toHaveProperty('exceeded');
    expect(rbac2.status?.operationsBlocked).toBe(2);
  });

  it('frees up to 2048 expired holds per call by default', async () => {
    const e = new MemoryEngine({ shards: 1 });
    const t0 = Date.UTC(2026, 10, 24, 12);
    at(e, t0);
    await register(e, 'many', { sessionTokenLimit: 1e9, dailyLimitMicros: 1e12 });
    for (let k = 0; k < 2052; k++)
      await authorize(e, 'many', { estimatedTokens: 1, leaseMs: 1000 });
    at(e, t0 + 5000);
    expect((await e.status('many'))?.sessionTokensReserved).toBe(4);
    expect(await e.expiredLeasesFreed()).toBe(2048);
    expect((await e.status('many'))?.sessionTokensReserved).toBe(0);
  });

  it('moves open holds into the new session; the live session pays', async () => {
    const e = new MemoryEngine();
    const t0 = Date.UTC(2026, 10, 24, 12);
    at(e, t0);
    await register(e, 'a1');
    const s1 = held(await authorize(e, 'a1'));
    const r2 = held(await authorize(e, 'a1'));
    const r3 = held(await authorize(e, 'a1', { leaseMs: 5000 }));
    await usage(e, 'a1');
    const newId = 'a1.00000000000000aa';
    const ch = await e.startSession({ agentId: 'a1', sessionId: newId, actor: 'agent' });
    expect(ch.replayed).toBe(false);
    expect(ch.ended).toMatchObject({ sessionId: s1.status.sessionId, tokensUsed: 3000 });
    expect(ch.status).toMatchObject({
      sessionId: newId,
      sessionTokensUsed: 0,
      sessionTokensReserved: 15_000,
      sessionCostMicros: 0,
      dailyReservedMicros: 225_000,
    });

    const s = await settle(e, { reservationId: s1.reservationId });
    expect(s.status).toMatchObject({
      sessionId: newId,
      sessionTokensUsed: 1500,
      sessionCostMicros: 10_500,
      sessionTokensReserved: 10_000,
      dailyCostMicros: 21_000 + 10_500,
    });
    expect(await lastEvent(e, 'a1')).toMatchObject({ type: 'settle', session_id: newId });
    const rel = await e.release({ reservationId: r2.reservationId, actor: 'agent' });
    expect(rel.status).toMatchObject({ sessionTokensReserved: 5000, dailyReservedMicros: 75_000 });
    at(e, t0 + 10_000);
    expect(await e.status('a1')).toMatchObject({
      sessionTokensReserved: 0,
      dailyReservedMicros: 0,
    });
    expect((await lastEvent(e, 'a1')).reservation_id).toBe(r3.reservationId);
  });

  it('answers a session start or end run twice with the summary it stored', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    await usage(e, 'a1');
    const first = (await e.status('a1'))?.sessionId;
    const id2 = 'a1.0000000000000002';
    const ch = await e.startSession({
      agentId: 'a1',
      endSessionId: first,
      sessionId: id2,
      actor: 'agent',
    });
    expect(ch.status.sessionId).toBe(id2);
    await usage(e, 'a1', { inputTokens: 10, outputTokens: 0 });
    const n = await eventCount(e);

    // The same call again (lost reply): its new session is current.
    const again = await e.startSession({
      agentId: 'a1',
      endSessionId: first,
      sessionId: id2,
      actor: 'agent',
    });
    expect(again.ended).toEqual(ch.ended);
    expect(again.replayed).toBe(true);
    expect(again.status).toMatchObject({ sessionId: id2, sessionTokensUsed: 10 });
    expect(await e.startSession({ agentId: 'a1', sessionId: id2, actor: 'agent' })).toMatchObject({
      ended: ch.ended,
      replayed: true,
    });
    // Ending the session ended last, whatever the new id: its summary.
    const end = await e.startSession({ agentId: 'a1', endSessionId: first, actor: 'agent' });
    expect(end).toMatchObject({ ended: ch.ended, replayed: true });
    expect(await eventCount(e)).toBe(n);

    // Without a summary (registered session) the current id cannot be started again.
    await register(e, 'b1');
    const b = (await e.status('b1'))?.sessionId ?? '';
    expect(
      (await errorOf(e.startSession({ agentId: 'b1', sessionId: b, actor: 'agent' }))).code,
    ).toBe('CONFLICT');
    expect(
      (await errorOf(e.startSession({ agentId: 'b1', sessionId: id2, actor: 'agent' }))).code,
    ).toBe('VALIDATION_FAILED');
    // The engine makes the id when none is given.
    const made = await e.startSession({ agentId: 'b1', actor: 'agent' });
    expect(made.status.sessionId).toMatch(/^b1\.[0-9a-f]{16}$/);
    expect(made.status.sessionId).not.toBe(b);
  });

  it('prices a settle at the hold, records overrun, and resets it with the session', async () => {
    const e = new MemoryEngine();
    at(e, Date.UTC(2026, 10, 24, 12));
    await register(e, 'a1');
    const h1 = held(await authorize(e, 'a1', { rates: CHEAP }));
    expect(h1.holdCostMicros).toBe(3000); // 5000 at 0.6 $/M
    // 1000 in + 6000 out: 2000 tokens and 600 micro-dollars above the hold.
    const s1 = await settle(e, { reservationId: h1.reservationId, outputTokens: 6000 });
    expect(s1).toMatchObject({ costMicros: 3750, overrunTokens: 2000, overrunMicros: 750 });
    expect(s1.status).toMatchObject({ sessionOverrunTokens: 2000, dailyOverrunMicros: 750 });
    expect(await lastEvent(e, 'a1')).toMatchObject({
      model: 'mini',
      cost: '3750',
      overrun_tokens: '2000',
      overrun_cost: '750',
    });
    const h2 = held(await authorize(e, 'a1'));
    const s2 = await settle(e, { reservationId: h2.reservationId });
    expect(s2).toMatchObject({ costMicros: 10_500, overrunTokens: 0, overrunMicros: 0 });
    expect(await lastEvent(e, 'a1')).toMatchObject({ overrun_tokens: '0', overrun_cost: '0' });
    // Tokens above, cost within: only the tokens are overrun.
    const h3 = held(await authorize(e, 'a1'));
    const s3 = await settle(e, {
      reservationId: h3.reservationId,
      inputTokens: 6000,
      outputTokens: 0,
    });
    expect(s3).toMatchObject({ costMicros: 18_000, overrunTokens: 1000, overrunMicros: 0 });
    expect(s3.status).toMatchObject({ sessionOverrunTokens: 3000, dailyOverrunMicros: 750 });

    const ch = await e.startSession({ agentId: 'a1', actor: 'agent' });
    expect(ch.status).toMatchObject({ sessionOverrunTokens: 0, dailyOverrunMicros: 750 });
    at(e, Date.UTC(2026, 10, 25, 12));
    expect(await e.status('a1')).toMatchObject({ dailyOverrunMicros: 0, dailyCostMicros: 0 });
    at(e, Date.UTC(2026, 10, 24, 13));
    expect((await e.status('a1'))?.dailyOverrunMicros).toBe(750);
  });

  it('answers a settle run twice with the recorded cost, and refuses other usage', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const h = held(await authorize(e, 'a1'));
    const s = await settle(e, { reservationId: h.reservationId, outputTokens: 5000 });
    const n = await eventCount(e);
    const twice = await settle(e, { reservationId: h.reservationId, outputTokens: 5000 });
    expect(twice).toEqual({
      outcome: 'already_closed',
      reservationId: h.reservationId,
      costMicros: s.costMicros,
      overrunTokens: 1000,
      overrunMicros: s.overrunMicros,
      status: { ...s.status, nowMs: twice.status.nowMs },
    });
    expect(await eventCount(e)).toBe(n);
    expect(
      await detailsOf(
        settle(e, { reservationId: h.reservationId, result: 'failure', outputTokens: 5000 }),
      ),
    ).toEqual({
      code: 'IDEMPOTENCY_CONFLICT',
      details: {
        reservation_id: h.reservationId,
        recorded: {
          state: 'settled',
          input_tokens: 1000,
          output_tokens: 5000,
          result: 'success',
          cost: s.costMicros,
        },
      },
    });
    // Released: a settle is a conflict; a release again is already closed.
    const r = held(await authorize(e, 'a1'));
    await e.release({ reservationId: r.reservationId, actor: 'agent' });
    expect(await detailsOf(settle(e, { reservationId: r.reservationId }))).toEqual({
      code: 'IDEMPOTENCY_CONFLICT',
      details: { reservation_id: r.reservationId, recorded: { state: 'released' } },
    });
    expect((await e.release({ reservationId: r.reservationId, actor: 'agent' })).outcome).toBe(
      'already_closed',
    );
    // A release of a settled hold: already closed, nothing written.
    expect((await e.release({ reservationId: h.reservationId, actor: 'agent' })).outcome).toBe(
      'already_closed',
    );
    expect(await eventCount(e)).toBe(n + 2);
  });

  it('settles a hold whose lease passed (late), once, and a released expired hold stays released', async () => {
    const e = new MemoryEngine();
    const t0 = Date.UTC(2026, 10, 24, 12);
    at(e, t0);
    await register(e, 'a1');
    const h = held(await authorize(e, 'a1', { leaseMs: 1000 }));
    const g = held(await authorize(e, 'a1', { leaseMs: 1000 }));
    at(e, t0 + 5000);
    const late = await settle(e, { reservationId: h.reservationId });
    expect(late).toMatchObject({ outcome: 'settled', costMicros: 10_500 });
    expect(late.status).toMatchObject({ sessionTokensReserved: 0, sessionTokensUsed: 1500 });
    expect((await eventsOf(e, 'a1')).slice(-3).map((x) => x.result)).toEqual([
      'lease_expired',
      'lease_expired',
      'success',
    ]);
    expect((await settle(e, { reservationId: h.reservationId })).outcome).toBe('already_closed');
    expect((await e.release({ reservationId: g.reservationId, actor: 'agent' })).outcome).toBe(
      'released',
    );
    expect((await detailsOf(settle(e, { reservationId: g.reservationId }))).code).toBe(
      'IDEMPOTENCY_CONFLICT',
    );
  });

  it('settles by operation once per usage id', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const n0 = await eventCount(e);
    // No hold: nothing written, the usage id not kept.
    expect(await settle(e, { agentId: 'a1', operation: 'read_file', usageId: 'u1' })).toMatchObject(
      {
        outcome: 'no_hold',
        reservationId: '',
        overrunTokens: 0,
      },
    );
    expect(await eventCount(e)).toBe(n0);
    const h = held(await authorize(e, 'a1'));
    const s = await settle(e, { agentId: 'a1', operation: 'read_file', usageId: 'u1' });
    expect(s).toMatchObject({
      outcome: 'settled',
      reservationId: h.reservationId,
      costMicros: 10_500,
    });
    held(await authorize(e, 'a1'));
    const n = await eventCount(e);
    const again = await settle(e, { agentId: 'a1', operation: 'read_file', usageId: 'u1' });
    expect(again).toMatchObject({
      outcome: 'already_closed',
      reservationId: h.reservationId,
      costMicros: 10_500,
      overrunTokens: 0,
      overrunMicros: 0,
    });
    expect(again.status.sessionTokensReserved).toBe(5000);
    expect(await eventCount(e)).toBe(n);
    expect(
      await detailsOf(
        settle(e, { agentId: 'a1', operation: 'read_file', usageId: 'u1', inputTokens: 1 }),
      ),
    ).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', details: { usage_id: 'u1' } });
    // A usage id recorded by recordUsage: no hold (the caller then records, which replays).
    await usage(e, 'a1', { usageId: 'u2', operation: 'read_file' });
    const n2 = await eventCount(e);
    expect(await settle(e, { agentId: 'a1', operation: 'read_file', usageId: 'u2' })).toMatchObject(
      {
        outcome: 'no_hold',
      },
    );
    expect(await eventCount(e)).toBe(n2);
    expect((await usage(e, 'a1', { usageId: 'u2', operation: 'read_file' })).replayed).toBe(true);
    // Without a usage id, each call settles the next hold.
    expect((await settle(e, { agentId: 'a1', operation: 'read_file' })).outcome).toBe('settled');
    expect((await settle(e, { agentId: 'a1', operation: 'read_file' })).outcome).toBe('no_hold');
  });

  it('records usage once per usage id', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const u = await usage(e, 'a1', { usageId: 'use-1', rates: CHEAP });
    expect(u).toMatchObject({ costMicros: 900, replayed: false });
    const n = await eventCount(e);
    // Even at other rates now: the recorded cost.
    const again = await usage(e, 'a1', {
      usageId: 'use-1',
      rates: { ...CHEAP, outputMicrosPerMillion: 1 },
    });
    expect(again).toMatchObject({ costMicros: 900, replayed: true });
    expect(again.status).toMatchObject({ sessionTokensUsed: 3000, dailyCostMicros: 900 });
    expect(await eventCount(e)).toBe(n);
    for (const over of [
      { inputTokens: 1 },
      { operation: 'other' },
      { rates: RATES },
      { result: 'failure' as const },
    ]) {
      expect(await detailsOf(usage(e, 'a1', { usageId: 'use-1', rates: CHEAP, ...over }))).toEqual({
        code: 'IDEMPOTENCY_CONFLICT',
        details: { agent_id: 'a1', usage_id: 'use-1' },
      });
    }
    // A settle's usage id is not a usage's.
    held(await authorize(e, 'a1'));
    await settle(e, { agentId: 'a1', operation: 'read_file', usageId: 'use-2' });
    expect((await errorOf(usage(e, 'a1', { usageId: 'use-2' }))).code).toBe('IDEMPOTENCY_CONFLICT');
    // Without an id: each call counts.
    expect((await usage(e, 'a1')).replayed).toBe(false);
    expect((await usage(e, 'a1')).status.sessionTokensUsed).toBe(3000 + 1500 + 6000);
    expect((await errorOf(usage(e, 'a1', { usageId: 'bad id' }))).code).toBe('VALIDATION_FAILED');
  });

  it('writes nothing for an update that sets what is set', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const n = await eventCount(e);
    const same = await e.updateAgent({
      agentId: 'a1',
      event: 'agent_updated',
      actor: 'admin',
      set: {
        role: 'coder',
        status: 'active',
        sessionTokenLimit: 80_000,
        keyDigest: D1,
        metadata: '{"team":"x"}',
      },
    });
    expect(same).toMatchObject({ replayed: true, metadata: '{"team":"x"}' });
    expect(await eventCount(e)).toBe(n);
    const up = await e.updateAgent({
      agentId: 'a1',
      event: 'agent_suspended',
      actor: 'admin',
      set: { role: 'coder', status: 'suspended' },
    });
    expect(up).toMatchObject({ replayed: false, status: { status: 'suspended' } });
    expect(await eventCount(e)).toBe(n + 1);
    const again = await e.updateAgent({
      agentId: 'a1',
      event: 'agent_suspended',
      actor: 'admin',
      set: { status: 'suspended' },
    });
    expect(again.replayed).toBe(true);
    expect(await eventCount(e)).toBe(n + 1);
  });

  it('forgets everything of a deleted agent but the day spend', async () => {
    const e = new MemoryEngine();
    await register(e, 'a1');
    const h = held(await authorize(e, 'a1', { requestId: 'q' }));
    const open = held(await authorize(e, 'a1', { requestId: 'q2' }));
    await settle(e, { reservationId: h.reservationId });
    await usage(e, 'a1', { usageId: 'u' });
    await e.deleteAgent('a1', 'admin');
    const st = (e as unknown as { st: { scopes: Map<string, { res: { size: number } }> } }).st;
    expect(st.scopes.get('a1')?.res.size).toBe(0);

    const again = await register(e, 'a1');
    expect(again.replayed).toBe(false);
    expect(again.status).toMatchObject({ dailyCostMicros: 10_500 + 21_000, sessionTokensUsed: 0 });
    const fresh = held(await authorize(e, 'a1', { requestId: 'q' }));
    expect(fresh.replayed).toBe(false);
    expect(fresh.reservationId).not.toBe(h.reservationId);
    for (const id of [h.reservationId, open.reservationId]) {
      expect((await errorOf(settle(e, { reservationId: id }))).code).toBe('RESERVATION_NOT_FOUND');
      expect((await errorOf(e.release({ reservationId: id, actor: 'agent' }))).code).toBe(
        'RESERVATION_NOT_FOUND',
      );
    }
    expect((await usage(e, 'a1', { usageId: 'u' })).replayed).toBe(false);
    expect((await e.status('a1'))?.dailyCostMicros).toBe(10_500 + 2 * 21_000);
  });

  it('sweeps a shard in steps of 100 agents, freeing expired holds within the bound', async () => {
    const e = new MemoryEngine({ shards: 2, maxFreePerCall: 5 });
    const t0 = Date.UTC(2026, 10, 24, 12);
    at(e, t0);
    const ids = Array.from({ length: 260 }, (_, k) => `s${String(k).padStart(3, '0')}`);
    for (const id of ids) await register(e, id);
    const mine = ids.filter((id) => shardOf(id, 2) === 0).sort();
    expect(mine.length).toBeGreaterThan(100);
    expect(mine.length).toBeLessThanOrEqual(200);
    // Two expired holds for each of the shard's first 4 agents and of its last.
    const holders = [...mine.slice(0, 4), mine.at(-1) as string];
    for (const id of holders) {
      await authorize(e, id, { leaseMs: 1000 });
      await authorize(e, id, { leaseMs: 1000 });
    }
    await authorize(e, mine[5] as string, { leaseMs: 60_000 });
    at(e, t0 + 5000);
    const n = await eventCount(e);

    const s1 = await e.sweepShard(0, '0');
    expect(s1).toEqual({ cursor: '100', agents: 100, freed: 5 });
    const freed = (await e.readOutbox(0)).slice(-5).map((x) => x.fields);
    expect(freed.every((f) => f.result === 'lease_expired' && f.actor === 'system')).toBe(true);
    expect(freed.map((f) => f.event_id?.slice(-4))).toEqual([
      '0000',
      '0001',
      '0002',
      '0003',
      '0004',
    ]);
    expect(await eventCount(e)).toBe(n + 5);
    const sum = async (list: string[]) => {
      let t = 0;
      for (const id of list) t += (await e.getAgent(id))?.status.sessionTokensReserved ?? 0;
      return t;
    };
    // The rest of the shard: the last agent's 2 holds; a second pass frees what the bound left.
    const s2 = await e.sweepShard(0, '100');
    expect(s2).toEqual({ cursor: '0', agents: mine.length - 100, freed: 2 });
    expect(await e.sweepShard(0, '0')).toEqual({ cursor: '100', agents: 100, freed: 3 });
    expect(await e.sweepShard(0, String(mine.length + 5))).toEqual({
      cursor: '0',
      agents: 0,
      freed: 0,
    });
    expect(await sum(holders)).toBe(0);
    expect(await sum([mine[5] as string])).toBe(5000);
    expect(await e.expiredLeasesFreed()).toBe(10);
    expect((await e.sweepShard(1, '0')).agents).toBe(Math.min(100, ids.length - mine.length));
    expect((await errorOf(e.sweepShard(2, '0'))).code).toBe('VALIDATION_FAILED');
    expect((await errorOf(e.sweepShard(0, 'x'))).code).toBe('VALIDATION_FAILED');
  });

  it('keeps request ids and usage ids for an hour of real time', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.UTC(2026, 10, 24, 12);
    vi.setSystemTime(t0);
    const e = new MemoryEngine();
    await register(e, 'a1');
    const h = held(await authorize(e, 'a1', { requestId: 'q' }));
    await usage(e, 'a1', { usageId: 'u' });
    await e.release({ reservationId: h.reservationId, actor: 'agent' });
    vi.setSystemTime(t0 + 3_600_000);
    expect((await authorize(e, 'a1', { requestId: 'q' })).replayed).toBe(true);
    expect((await usage(e, 'a1', { usageId: 'u' })).replayed).toBe(true);
    vi.setSystemTime(t0 + 3_600_001);
    const again = held(await authorize(e, 'a1', { requestId: 'q' }));
    expect(again.replayed).toBe(false);
    expect(again.reservationId).not.toBe(h.reservationId);
    expect((await usage(e, 'a1', { usageId: 'u' })).replayed).toBe(false);
  });

  it('restores overrun counters, 0 when absent', async () => {
    const day = Date.UTC(2026, 10, 24);
    const base: RestoredAgent = {
      agentId: 'r1',
      role: 'coder',
      status: 'active',
      sessionId: 'r1.00000000000000aa',
      sessionStartedMs: day,
      sessionTokenLimit: 80_000,
      dailyLimitMicros: 8_000_000,
      keyDigest: D1,
      createdMs: day,
      metadata: '{}',
      sessionTokensUsed: 100,
      sessionCostMicros: 300,
      operationsBlocked: 0,
      dailyCostMicros: 0,
    };
    const e = new MemoryEngine();
    at(e, day + 3_600_000);
    e.restore({
      dayStartMs: day,
      agents: [
        { ...base, sessionOverrunTokens: 40, dailyOverrunMicros: 7 },
        { ...base, agentId: 'r2', sessionId: 'r2.00000000000000aa' },
      ],
    });
    expect(await e.status('r1')).toMatchObject({ sessionOverrunTokens: 40, dailyOverrunMicros: 7 });
    expect(await e.status('r2')).toMatchObject({ sessionOverrunTokens: 0, dailyOverrunMicros: 0 });
    const bad = new MemoryEngine();
    expect(() =>
      bad.restore({ dayStartMs: day, agents: [{ ...base, dailyOverrunMicros: -1 }] }),
    ).toThrow('daily_overrun');
  });
});

describe('pctNumber', () => {
  it('is the number of pct() text, for many pairs', async () => {
    const { pct, pctNumber } = await import('../../src/engine/money.js');
    for (let k = 0; k < 20_000; k++) {
      const limit = 1 + Math.floor(Math.random() * 1e12);
      const used = Math.floor(Math.random() * limit * 1.5);
      expect(pctNumber(used, limit)).toBe(Number(pct(used, limit)));
    }
    expect(pctNumber(5, 0)).toBe(100);
    expect(pctNumber(0, 0)).toBe(0);
  });
});

describe('event ids from tail bits', () => {
  it('are the text of eventId with the eventTail of the same bytes', async () => {
    const { eventId, eventIdOf, eventTailOf, tailBitsOf } = await import(
      '../../src/engine/random.js'
    );
    const { randomBytes } = await import('node:crypto');
    const edges = [
      Buffer.alloc(9, 0),
      Buffer.alloc(9, 0xff),
      Buffer.from('0123456789abcdef01', 'hex'),
    ];
    for (let k = 0; k < 5_000; k++) {
      const bytes = edges[k] ?? randomBytes(9);
      const ms =
        k < 3
          ? ([0, 2 ** 48 - 1, 1_795_694_400_123][k] as number)
          : Math.floor(Math.random() * 2 ** 45);
      const n = k % 70_000;
      expect(eventIdOf(ms, tailBitsOf(bytes, 0), n)).toBe(eventId(ms, eventTailOf(bytes), n));
    }
  });
});
