/**
 * A move to a pool whose hierarchy lives on another shard, with holds open
 * (docs/limits.md, "Moves"), on every engine: each hold settles, is released
 * or runs out under the pools it was made under, exactly once, and the new
 * pools see none of it. On Redis the old pools' part of a hold stays on their
 * shard (lua/includes/left.lua) and its close is carried there after the
 * settle (src/engine/redis/ops/closeLeftHold.ts): a process that dies
 * between the two steps leaves it to the next settle sent again, or to the
 * sweep.
 */
import { expect, it } from 'vitest';
import { parseOutboxFields } from '../../src/audit/event.js';
import { alertThresholds } from '../../src/engine/alerts.js';
import { carryKey, DEFAULT_SHARDS, outboxKey, shardOf } from '../../src/engine/keys.js';
import { loadScript } from '../../src/engine/redis/index.js';
import { describeWithEngine, type EngineUnderTest, uid } from '../support/engines.js';
import { hold, PROFILE, registerIn, SHORT_LEASE, sweepUntilFreed } from '../support/pools.js';

const ALERTS = alertThresholds([50, 80, 100]);

describeWithEngine((ut, kind) => {
  /** Two roots on different shards (limits on the first), and an agent in the first. */
  async function twoShards(dailyLimitMicros?: number) {
    const p1 = uid('pr');
    let p2 = uid('pr');
    while (shardOf(p2, DEFAULT_SHARDS) === shardOf(p1, DEFAULT_SHARDS)) p2 = uid('pr');
    await ut().engine.createPool({ poolId: p1, dailyLimitMicros, actor: 'admin' });
    await ut().engine.createPool({ poolId: p2, actor: 'admin' });
    const a = await registerIn(ut().engine, p1);
    return { p1, p2, a, from: shardOf(p1, DEFAULT_SHARDS), to: shardOf(p2, DEFAULT_SHARDS) };
  }

  async function held(agentId: string, tokens: number): Promise<string> {
    const h = await hold(ut().engine, agentId, tokens);
    if (!h.allowed) throw new Error(`denied: ${h.code}`);
    return h.reservationId;
  }

  function settle(reservationId: string, tokens: number) {
    return ut().engine.settle({
      reservationId,
      inputTokens: tokens,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
      alerts: ALERTS,
    });
  }

  const pool = async (id: string) => {
    const p = await ut().engine.poolStatus(id);
    return { reserved: p?.dailyReservedMicros, cost: p?.dailyCostMicros, agents: p?.agents };
  };

  it('settled, released, there and back: each hold under the pools it was made under, once', async () => {
    const { p1, p2, a } = await twoShards();
    const h1 = await held(a, 1_000);
    const h3 = await held(a, 300);
    const h5 = await held(a, 50);
    const moved = await ut().engine.moveAgent(a, p2, 'admin');
    expect(moved.status).toMatchObject({ poolId: p2, dailyReservedMicros: 1_350 });
    expect(await pool(p1)).toEqual({ reserved: 1_350, cost: 0, agents: 0 });
    expect(await pool(p2)).toEqual({ reserved: 0, cost: 0, agents: 1 });

    expect((await settle(h1, 400)).outcome).toBe('settled');
    expect(await pool(p1)).toEqual({ reserved: 350, cost: 400, agents: 0 });
    // Sent again (a lost reply): answered as recorded, charged once.
    expect((await settle(h1, 400)).outcome).toBe('already_closed');
    expect((await ut().engine.release({ reservationId: h3, actor: 'library' })).outcome).toBe(
      'released',
    );
    expect((await ut().engine.release({ reservationId: h3, actor: 'library' })).outcome).toBe(
      'already_closed',
    );
    expect(await pool(p1)).toEqual({ reserved: 50, cost: 400, agents: 0 });
    expect(await pool(p2)).toEqual({ reserved: 0, cost: 0, agents: 1 });

    // A hold made under the new pool, open while the agent moves back.
    const h2 = await held(a, 100);
    expect(await pool(p2)).toMatchObject({ reserved: 100 });
    await ut().engine.moveAgent(a, p1, 'admin');
    expect(await pool(p1)).toEqual({ reserved: 50, cost: 400, agents: 1 });
    await settle(h2, 60);
    await settle(h5, 50);
    expect(await pool(p2)).toEqual({ reserved: 0, cost: 60, agents: 0 });
    expect(await pool(p1)).toEqual({ reserved: 0, cost: 450, agents: 1 });
    expect(await ut().engine.status(a)).toMatchObject({
      dailyCostMicros: 510,
      dailyReservedMicros: 0,
      sessionTokensUsed: 510,
    });
    // The audit names the pools each settle was charged to.
    const settles = (await ut().engine.readOutbox())
      .filter((e) => e.fields.type === 'settle' && e.fields.agent_id === a)
      .map((e) => `${e.fields.reservation_id} ${e.fields.pools}`);
    expect(settles.sort()).toEqual([`${h1} ${p1}`, `${h2} ${p2}`, `${h5} ${p1}`].sort());
    const raw = ut().raw;
    if (raw) {
      // Nothing is left to close on either shard, nothing to carry.
      for (const s of [shardOf(p1, DEFAULT_SHARDS), shardOf(p2, DEFAULT_SHARDS)]) {
        expect(await raw.hlen(carryKey(s))).toBe(0);
      }
    }
  });

  it('a settle after the move takes the old pool across an alert threshold: one alert', async () => {
    const { p1, p2, a } = await twoShards(1_000);
    const h = await held(a, 900);
    await ut().engine.moveAgent(a, p2, 'admin');
    await settle(h, 850);
    await settle(h, 850);
    const alerts = (await ut().engine.readOutbox())
      .filter((e) => e.fields.type === 'budget_alert' && e.fields.agent_id === a)
      .map((e) => parseOutboxFields(e.fields).alert)
      .map((x) => `${x?.pool_id}:${x?.budget}:${x?.threshold_pct}`);
    expect(alerts).toEqual([`${p1}:daily:50`, `${p1}:daily:80`]);
  });

  it('a hold that runs out after the move is freed under its old pools; a late settle charges them', async () => {
    const { p1, p2, a, from, to } = await twoShards();
    const h = await ut().engine.authorize({
      agentId: a,
      // On memory a whole minute (its clock is moved on below), on Redis 300 ms.
      profile: kind === 'memory' ? PROFILE : SHORT_LEASE,
      estimatedTokens: 1_000,
      actor: 'library',
    });
    if (!h.allowed) throw new Error('denied');
    await ut().engine.moveAgent(a, p2, 'admin');
    expect(await pool(p1)).toEqual({ reserved: 1_000, cost: 0, agents: 0 });
    // Its lease passes (on memory, the engine's own clock is moved on: no
    // other file shares it; on Redis, shared by the run, real time passes);
    // the sweep (of every shard, as the scheduler runs it) frees it.
    if (kind === 'memory') ut().engine.setClockOffsetForTests(PROFILE.leaseMs + 1_000);
    await sweepUntilFreed(
      ut().engine,
      [from, to],
      async () => (await pool(p1)).reserved === 0,
      () => ut().engine.status(a),
    );
    expect(await pool(p1)).toEqual({ reserved: 0, cost: 0, agents: 0 });
    expect(await ut().engine.status(a)).toMatchObject({ dailyReservedMicros: 0 });
    expect((await settle(h.reservationId, 400)).outcome).toBe('settled');
    expect(await pool(p1)).toEqual({ reserved: 0, cost: 400, agents: 0 });
    expect(await pool(p2)).toEqual({ reserved: 0, cost: 0, agents: 1 });
    if (kind === 'memory') ut().engine.setClockOffsetForTests(0);
  });

  it('an agent deleted with a hold that moved: its old pools free it by the next sweep', async () => {
    const { p1, p2, a, to } = await twoShards();
    await held(a, 1_000);
    await ut().engine.moveAgent(a, p2, 'admin');
    await ut().engine.deleteAgent(a, 'admin');
    let cursor = '0';
    do cursor = (await ut().engine.sweepShard(to, cursor)).cursor;
    while (cursor !== '0');
    expect(await pool(p1)).toEqual({ reserved: 0, cost: 0, agents: 0 });
    expect(await pool(p2)).toEqual({ reserved: 0, cost: 0, agents: 0 });
  });

  it.runIf(kind !== 'memory')(
    'a process dies between the settle and its pools: the settle sent again, or the sweep, closes them once',
    async () => {
      const raw = ut().raw as NonNullable<EngineUnderTest['raw']>;
      const { p1, p2, a, to } = await twoShards();
      const h1 = await held(a, 1_000);
      const h4 = await held(a, 500);
      await ut().engine.moveAgent(a, p2, 'admin');
      // What ops/settle.ts sends, and nothing after it: lua/settle-1.lua on the agent's shard.
      const rawSettle = (resId: string, tokens: number) =>
        raw.eval(
          loadScript('settle-1'),
          1,
          outboxKey(to),
          0,
          '-7000-8000-000000000000',
          2048,
          '',
          '',
          a,
          resId.slice(resId.lastIndexOf('.') + 1),
          '',
          tokens,
          0,
          'success',
          '',
          'library',
          '',
          '',
          '',
          '',
          '',
        );
      await rawSettle(h1, 400);
      await rawSettle(h4, 200);
      expect(await pool(p1)).toEqual({ reserved: 1_500, cost: 0, agents: 0 });
      expect(await raw.hlen(carryKey(to))).toBe(2);
      // The caller sends its settle again: answered as recorded, and its pools closed.
      expect((await settle(h1, 400)).outcome).toBe('already_closed');
      expect(await pool(p1)).toEqual({ reserved: 500, cost: 400, agents: 0 });
      // Nobody sends the other again: the sweep of the agent's shard closes it.
      await ut().engine.sweepShard(to, '0');
      expect(await pool(p1)).toEqual({ reserved: 0, cost: 600, agents: 0 });
      expect(await raw.hlen(carryKey(to))).toBe(0);
      // Nothing more, however often.
      await ut().engine.sweepShard(to, '0');
      expect((await settle(h4, 200)).outcome).toBe('already_closed');
      expect((await settle(h1, 400)).outcome).toBe('already_closed');
      expect(await pool(p1)).toEqual({ reserved: 0, cost: 600, agents: 0 });
      expect(await pool(p2)).toEqual({ reserved: 0, cost: 0, agents: 1 });
    },
  );
});
