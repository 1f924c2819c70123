/**
 * Priced holds and settles, on every engine (memory, Redis, Cluster): trusted
 * code may give the engine a hold's or a usage's exact cost in micro-dollars
 * (a model call's price: cached tokens, cache writes and tiers have rates of
 * their own), and the engine uses it in place of tokens × rates, with the
 * limits, the overrun and exactly-once as for a cost it computed
 * (docs/engine.md#priced-holds-and-settles). The HTTP API does not take them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthorizeRequest,
  SettleRequest,
  UsageRequest,
} from '../../src/api/routes/gate.schemas.js';
import type { AuthorizeResult } from '../../src/engine/types.js';
import { MAX_COST } from '../../src/engine/validate.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';
import { engineAgentEvents, statusWithoutNow } from '../support/exactly-once.js';

/** The daily limit of every agent here: $1. */
const DAILY = 1_000_000;

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

  async function register(): Promise<string> {
    const id = uid('pr');
    await tg.identity.registerAgent(id, 'coder', {}, { dailyCostLimit: DAILY / 1_000_000 });
    return id;
  }

  function authorize(
    id: string,
    o: { estimate?: number; holdCostMicros?: number; requestId?: string } = {},
  ): Promise<AuthorizeResult> {
    return ut.engine.authorize({
      agentId: id,
      profile: tg.policy.profile('read_file'),
      estimatedTokens: o.estimate ?? 1000,
      holdCostMicros: o.holdCostMicros,
      requestId: o.requestId,
      actor: 'library',
    });
  }

  async function hold(id: string, o: Parameters<typeof authorize>[1] = {}) {
    const r = await authorize(id, o);
    if (!r.allowed) throw new Error(`not allowed: ${r.code}`);
    return r;
  }

  function settle(
    reservationId: string,
    inputTokens: number,
    outputTokens: number,
    costMicros?: number,
  ) {
    return ut.engine.settle({
      reservationId,
      inputTokens,
      outputTokens,
      costMicros,
      result: 'success',
      actor: 'library',
    });
  }

  const status = (id: string) => statusWithoutNow(ut, id);

  const events = (id: string) => engineAgentEvents(ut, id);

  describe('a priced hold', () => {
    it('holds its cost, not the estimate at the hold rate, and denies exactly at the daily limit', async () => {
      const id = await register();
      const first = await hold(id, { estimate: 10, holdCostMicros: 600_000 });
      expect(first.holdCostMicros).toBe(600_000);
      expect(await status(id)).toMatchObject({
        dailyReservedMicros: 600_000,
        sessionTokensReserved: 10,
      });
      // 1 µ$ over what is left: denied, counted, nothing held.
      expect(await authorize(id, { estimate: 10, holdCostMicros: 400_001 })).toMatchObject({
        allowed: false,
        code: 'BUDGET_EXCEEDED',
        exceeded: 'daily',
      });
      // Exactly what is left: allowed.
      const last = await hold(id, { estimate: 10, holdCostMicros: DAILY - 600_000 });
      expect(last.holdCostMicros).toBe(400_000);
      expect(await status(id)).toMatchObject({
        dailyReservedMicros: DAILY,
        sessionTokensReserved: 20,
        operationsBlocked: 1,
      });
      // A free hold still fits; anything more does not.
      expect((await hold(id, { estimate: 10, holdCostMicros: 0 })).holdCostMicros).toBe(0);
      expect(await authorize(id, { estimate: 1, holdCostMicros: 1 })).toMatchObject({
        allowed: false,
        exceeded: 'daily',
      });
      const decisions = (await events(id)).filter((e) => e.type === 'decision');
      expect(decisions.map((e) => [e.allowed, e.cost, e.estimated_tokens])).toEqual([
        ['1', '600000', '10'],
        ['0', '0', '10'],
        ['1', '400000', '10'],
        ['1', '0', '10'],
        ['0', '0', '1'],
      ]);
    });

    it('a large estimate priced low fits where its hold-rate cost would not', async () => {
      const id = await register();
      // 70k tokens at the default hold rate ($15 per million) would be $1.05: over the limit.
      expect(await authorize(id, { estimate: 70_000 })).toMatchObject({
        allowed: false,
        exceeded: 'daily',
      });
      expect((await hold(id, { estimate: 70_000, holdCostMicros: 999_999 })).holdCostMicros).toBe(
        999_999,
      );
    });

    it('a request id sent again: the same cost replays, another cost or none conflicts', async () => {
      const id = await register();
      const first = await hold(id, { holdCostMicros: 1234, requestId: 'rq-priced' });
      const again = await hold(id, { holdCostMicros: 1234, requestId: 'rq-priced' });
      expect(again).toMatchObject({
        replayed: true,
        reservationId: first.reservationId,
        holdCostMicros: 1234,
      });
      for (const other of [1235, undefined]) {
        await expect(
          authorize(id, { holdCostMicros: other, requestId: 'rq-priced' }),
        ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
      }
      // Unpriced first: a priced resend is another request.
      await hold(id, { requestId: 'rq-plain' });
      await expect(
        authorize(id, { holdCostMicros: 1234, requestId: 'rq-plain' }),
      ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
      expect((await status(id)).dailyReservedMicros).toBe(1234 + 15_000);
    });
  });

  describe('a priced settle', () => {
    it('records exactly its cost (status and event), within the hold: no overrun', async () => {
      const id = await register();
      const h = await hold(id, { estimate: 1000, holdCostMicros: 600_000 });
      const s = await settle(h.reservationId, 800, 100, 555_555);
      expect(s).toMatchObject({
        outcome: 'settled',
        costMicros: 555_555,
        overrunTokens: 0,
        overrunMicros: 0,
      });
      expect(await status(id)).toMatchObject({
        dailyCostMicros: 555_555,
        dailyReservedMicros: 0,
        sessionCostMicros: 555_555,
        sessionTokensUsed: 900,
        sessionTokensReserved: 0,
        dailyOverrunMicros: 0,
      });
      const e = (await events(id)).find((x) => x.type === 'settle');
      expect(e).toMatchObject({
        cost: '555555',
        input_tokens: '800',
        output_tokens: '100',
        overrun_tokens: '0',
        overrun_cost: '0',
      });
    });

    it('above a priced hold: the overrun in tokens and cost, against the hold', async () => {
      const id = await register();
      const h = await hold(id, { estimate: 1000, holdCostMicros: 100_000 });
      const s = await settle(h.reservationId, 900, 200, 150_000);
      expect(s).toMatchObject({ costMicros: 150_000, overrunTokens: 100, overrunMicros: 50_000 });
      expect(await status(id)).toMatchObject({
        dailyCostMicros: 150_000,
        dailyOverrunMicros: 50_000,
        sessionOverrunTokens: 100,
      });
      const e = (await events(id)).find((x) => x.type === 'settle');
      expect(e).toMatchObject({ cost: '150000', overrun_tokens: '100', overrun_cost: '50000' });
    });

    it('of an unpriced hold: its cost, the overrun against the hold rate cost', async () => {
      const id = await register();
      const h = await hold(id, { estimate: 1000 }); // 1000 × $15 per million: 15,000 µ$
      expect(h.holdCostMicros).toBe(15_000);
      expect(await settle(h.reservationId, 100, 10, 20_000)).toMatchObject({
        costMicros: 20_000,
        overrunTokens: 0,
        overrunMicros: 5000,
      });
    });

    it('sent again: the same cost answers the recorded one; another cost conflicts', async () => {
      const id = await register();
      const h = await hold(id, { holdCostMicros: 600_000 });
      await settle(h.reservationId, 800, 100, 555_555);
      const before = await status(id);
      const nEvents = (await events(id)).length;
      expect(await settle(h.reservationId, 800, 100, 555_555)).toMatchObject({
        outcome: 'already_closed',
        costMicros: 555_555,
      });
      // A resend that gives no cost matches on its tokens and result, as before.
      expect(await settle(h.reservationId, 800, 100)).toMatchObject({
        outcome: 'already_closed',
        costMicros: 555_555,
      });
      await expect(settle(h.reservationId, 800, 100, 555_556)).rejects.toMatchObject({
        code: 'IDEMPOTENCY_CONFLICT',
        details: {
          recorded: { state: 'settled', input_tokens: 800, output_tokens: 100, cost: 555_555 },
        },
      });
      expect(await status(id)).toEqual(before);
      expect((await events(id)).length).toBe(nEvents);
    });

    it('an unpriced settle sent again with a cost: only its recorded cost matches', async () => {
      const id = await register();
      const h = await hold(id);
      const s = await settle(h.reservationId, 1000, 0);
      expect(s.costMicros).toBe(3000); // 1000 × $3 per million
      expect(await settle(h.reservationId, 1000, 0, 3000)).toMatchObject({
        outcome: 'already_closed',
      });
      await expect(settle(h.reservationId, 1000, 0, 2999)).rejects.toMatchObject({
        code: 'IDEMPOTENCY_CONFLICT',
      });
    });

    it('by operation, under a usage id: priced once; the same cost replays, another conflicts', async () => {
      const id = await register();
      await hold(id, { holdCostMicros: 50_000 });
      const byOp = (costMicros: number) =>
        ut.engine.settle({
          agentId: id,
          operation: 'read_file',
          usageId: 'use-priced-1',
          inputTokens: 10,
          outputTokens: 5,
          costMicros,
          result: 'success',
          actor: 'library',
        });
      expect(await byOp(40_000)).toMatchObject({ outcome: 'settled', costMicros: 40_000 });
      expect(await byOp(40_000)).toMatchObject({ outcome: 'already_closed', costMicros: 40_000 });
      await expect(byOp(40_001)).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
      expect(await status(id)).toMatchObject({ dailyCostMicros: 40_000, dailyReservedMicros: 0 });
    });
  });

  describe('priced usage with no hold', () => {
    it('records its cost; the same again replays, another cost conflicts', async () => {
      const id = await register();
      const usage = (costMicros?: number) =>
        ut.engine.recordUsage({
          agentId: id,
          usageId: 'use-priced-2',
          operation: 'read_file',
          inputTokens: 1000,
          outputTokens: 500,
          rates: tg.policy.rates(),
          costMicros,
          result: 'success',
          actor: 'library',
        });
      expect(await usage(42_000)).toMatchObject({ costMicros: 42_000, replayed: false });
      expect(await status(id)).toMatchObject({ dailyCostMicros: 42_000, sessionTokensUsed: 1500 });
      expect((await events(id)).find((e) => e.type === 'usage')).toMatchObject({ cost: '42000' });
      expect(await usage(42_000)).toMatchObject({ costMicros: 42_000, replayed: true });
      expect(await usage()).toMatchObject({ costMicros: 42_000, replayed: true });
      await expect(usage(41_999)).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
      expect((await status(id)).dailyCostMicros).toBe(42_000);
    });
  });

  describe('through the library', () => {
    it('checkPermission takes holdCostMicros, recordOperation costMicros', async () => {
      const id = await register();
      const d = await tg.guard.checkPermission(id, 'read_file', {
        estimatedTokens: 100,
        holdCostMicros: 70_000,
      });
      expect(d.allowed).toBe(true);
      expect((await status(id)).dailyReservedMicros).toBe(70_000);
      const r = await tg.guard.recordOperation(
        id,
        'read_file',
        { inputTokens: 50, outputTokens: 50, costMicros: 80_000 },
        'success',
        d.allowed ? d.reservation_id : undefined,
      );
      expect(r).toMatchObject({ outcome: 'settled', cost: 0.08, overrun_cost: 0.01 });
      // No hold left: recorded as usage, at its cost.
      const u = await tg.guard.recordOperation(id, 'read_file', {
        inputTokens: 1,
        outputTokens: 1,
        costMicros: 5,
      });
      expect(u).toMatchObject({ outcome: 'no_hold', cost: 0.000005 });
      expect((await status(id)).dailyCostMicros).toBe(80_005);
    });
  });

  describe('a bad cost: VALIDATION_FAILED, nothing sent', () => {
    for (const bad of [-1, 1.5, MAX_COST + 1, Number.NaN]) {
      it(`${bad}`, async () => {
        const id = await register();
        const h = await hold(id);
        const before = await status(id);
        const calls = ut.calls.length;
        await expect(authorize(id, { holdCostMicros: bad })).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
          details: { field: 'hold_cost_micros' },
        });
        await expect(settle(h.reservationId, 1, 1, bad)).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
          details: { field: 'cost_micros' },
        });
        await expect(
          ut.engine.recordUsage({
            agentId: id,
            inputTokens: 1,
            outputTokens: 1,
            rates: tg.policy.rates(),
            costMicros: bad,
            result: 'success',
            actor: 'library',
          }),
        ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'cost_micros' } });
        // status() itself is a script call on Redis: count the calls before it.
        expect(ut.calls.length).toBe(calls);
        expect(await status(id)).toEqual(before);
      });
    }
    it('MAX_COST itself is accepted', async () => {
      const id = await register();
      const h = await hold(id);
      expect(await settle(h.reservationId, 1, 1, MAX_COST)).toMatchObject({ costMicros: MAX_COST });
    });
  });
});

describe.runIf(ENGINE_KINDS.includes('memory'))('not over HTTP', () => {
  it('the gate routes refuse a cost in their bodies', () => {
    const costs = [{ hold_cost_micros: 1 }, { holdCostMicros: 1 }, { cost_micros: 1 }];
    const bodies = [
      [AuthorizeRequest, { agent_id: 'a-1', operation: 'read_file', estimated_tokens: 10 }],
      [
        SettleRequest,
        {
          reservation_id: 'a-1.0123456789abcdef',
          input_tokens: 1,
          output_tokens: 1,
          result: 'success',
        },
      ],
      [UsageRequest, { agent_id: 'a-1', input_tokens: 1, output_tokens: 1 }],
    ] as const;
    for (const [schema, body] of bodies) {
      expect(schema.safeParse(body).success).toBe(true);
      for (const c of costs) expect(schema.safeParse({ ...body, ...c }).success).toBe(false);
    }
  });
});
