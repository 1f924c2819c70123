import { afterEach, describe, expect, it, vi } from 'vitest';
import { DAY_MS } from '../../src/engine/clock.js';
import { shardOf } from '../../src/engine/keys.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import type { AuthorizeInput, RegisterInput, SettleInput } from '../../src/engine/types.js';
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

  it('registers, refuses a duplicate, and audits the whole state', async () => {
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
    expect(await errorOf(register(e, 'a1'))).toEqual({
      code: 'CONFLICT',
      message: 'Agent a1 already exists',
    });
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
      'type',
      'agent_id',
      'actor',
    ]);
    expect(ev).toMatchObject({
      type: 'agent_registered',
      agent_id: 'a1',
      session_token_limit: '80000',
      daily_cost_limit: '8000000',
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

    expect(await authorize(e, 'ghost')).toEqual({
      allowed: false,
      code: 'AGENT_NOT_FOUND',
      status: null,
    });
    expect((await lastEvent(e, 'ghost')).session_utilization).toBe('');
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
    const twice = await settle(e, { reservationId: r.reservationId });
    expect(twice).toMatchObject({ outcome: 'already_closed', costMicros: 0 });
    expect(twice.status.sessionTokensUsed).toBe(1500);

    await authorize(e, 'a1', { operation: 'write_file' });
    const none = await settle(e, { agentId: 'a1', operation: 'deploy' });
    expect(none).toMatchObject({ outcome: 'no_hold', reservationId: '', costMicros: 0 });
    const byOp = await settle(e, { agentId: 'a1', operation: 'write_file', rates: CHEAP });
    expect(byOp).toMatchObject({ outcome: 'settled', costMicros: 450 });
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
    expect(
      await errorOf(e.startSession({ agentId: 'a1', endSessionId: first, actor: 'agent' })),
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
    // The day record lives until a day after its midnight; then nothing is left.
    vi.setSystemTime(t0 + 2 * DAY_MS);
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

  it('runs authorize + settle pairs fast', async () => {
    const e = new MemoryEngine();
    const agents = 100;
    for (let k = 0; k < agents; k++) {
      await register(e, `p${k}`, {
        sessionTokenLimit: 1_000_000_000_000,
        dailyLimitMicros: 1_000_000_000_000,
      });
    }
    const n = 50_000;
    const input: AuthorizeInput = {
      agentId: 'p0',
      operation: 'read_file',
      estimatedTokens: 5000,
      rates: RATES,
      leaseMs: 60_000,
      allowedRoles: ['coder'],
      actor: 'library',
    };
    let settled = 0;
    const t = performance.now();
    for (let k = 0; k < n; k++) {
      const r = await e.authorize({ ...input, agentId: `p${k % agents}` });
      if (!r.allowed) continue;
      const s = await e.settle({
        reservationId: r.reservationId,
        inputTokens: 100,
        outputTokens: 100,
        result: 'success',
        actor: 'library',
      });
      if (s.outcome === 'settled') settled++;
    }
    const ms = performance.now() - t;
    console.log(
      `MemoryEngine: ${n} authorize+settle pairs in ${ms.toFixed(0)} ms: ` +
        `${Math.round((n / ms) * 1000)} pairs/s (${Math.round(((2 * n) / ms) * 1000)} operations/s)`,
    );
    expect(settled).toBe(n);
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
