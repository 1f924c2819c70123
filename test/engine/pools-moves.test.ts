/**
 * Moving agents between pools (docs/limits.md, "Pools"), on every engine:
 * within a hierarchy an open hold stays with the levels it was made under
 * and settles there; to a pool whose hierarchy lives on another shard the
 * holds go with the agent (their pools' side: pools-moves-holds.test.ts);
 * on Redis a second engine instance whose directory cache still points at the
 * old shard finds the agent again after a move, and answers not found after a
 * delete.
 */
import { expect, it } from 'vitest';
import { agentKeys, DEFAULT_SHARDS, dirKey, shardOf } from '../../src/engine/keys.js';
import { loadScript, RedisEngine } from '../../src/engine/redis/index.js';
import { describeWithEngine, type EngineUnderTest, redisClient, uid } from '../support/engines.js';
import { hold, PROFILE, registerIn, rejects } from '../support/pools.js';

/** A fresh id whose shard is (`same`) or is not `shard`. */
function idOn(prefix: string, shard: number, same: boolean): string {
  for (;;) {
    const id = uid(prefix);
    if ((shardOf(id, DEFAULT_SHARDS) === shard) === same) return id;
  }
}

describeWithEngine((ut, kind) => {
  async function root(id = uid('pr')): Promise<string> {
    await ut().engine.createPool({ poolId: id, actor: 'admin' });
    return id;
  }

  async function child(parentId: string): Promise<string> {
    const id = uid('pc');
    await ut().engine.createPool({ poolId: id, parentId, actor: 'admin' });
    return id;
  }

  it('within a hierarchy, an open hold settles under the levels it was made under', async () => {
    const org = await root();
    const t1 = await child(org);
    const t2 = await child(org);
    const a = await registerIn(ut().engine, t1);
    const h = await hold(ut().engine, a, 1_000);
    if (!h.allowed) throw new Error('denied');
    const moved = await ut().engine.moveAgent(a, t2, 'admin');
    expect(moved.status.poolId).toBe(t2);
    expect(moved.replayed).toBe(false);
    expect(await ut().engine.poolStatus(t1)).toMatchObject({
      agents: 0,
      dailyReservedMicros: 1_000,
    });
    expect(await ut().engine.poolStatus(t2)).toMatchObject({ agents: 1, dailyReservedMicros: 0 });
    // The same move again: nothing to do.
    expect((await ut().engine.moveAgent(a, t2, 'admin')).replayed).toBe(true);
    await ut().engine.settle({
      reservationId: h.reservationId,
      inputTokens: 400,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    expect(await ut().engine.poolStatus(t1)).toMatchObject({
      dailyReservedMicros: 0,
      dailyCostMicros: 400,
    });
    expect(await ut().engine.poolStatus(t2)).toMatchObject({ dailyCostMicros: 0 });
    expect(await ut().engine.poolStatus(org)).toMatchObject({
      dailyReservedMicros: 0,
      dailyCostMicros: 400,
    });
    // A new hold is made under the new pool.
    const h2 = await hold(ut().engine, a, 100);
    if (!h2.allowed) throw new Error('denied');
    expect(await ut().engine.poolStatus(t2)).toMatchObject({ dailyReservedMicros: 100 });
    const moves = (await ut().engine.readOutbox()).filter(
      (e) => e.fields.agent_id === a && e.fields.type === 'agent_moved',
    );
    expect(moves.map((e) => [e.fields.from_pool_id, e.fields.pool_id])).toEqual([[t1, t2]]);
    expect(await rejects(ut().engine.moveAgent(a, uid('pl'), 'admin'))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await rejects(ut().engine.moveAgent(uid('pa'), t1, 'admin'))).toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('to another shard: a hold made at home goes with it, settled and found there', async () => {
    const a = uid('pa');
    const home = shardOf(a, DEFAULT_SHARDS);
    const far = await root(idOn('pr', home, false));
    await registerIn(ut().engine, undefined, { agentId: a });
    const h = await hold(ut().engine, a, 1_000);
    if (!h.allowed) throw new Error('denied');
    const moved = await ut().engine.moveAgent(a, far, 'admin');
    expect(moved.status).toMatchObject({ poolId: far, dailyReservedMicros: 1_000 });
    // Made in no pool, the hold holds nothing under the pool it moved into.
    expect(await ut().engine.poolStatus(far)).toMatchObject({ agents: 1, dailyReservedMicros: 0 });
    await ut().engine.settle({
      reservationId: h.reservationId,
      inputTokens: 250,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    expect(await ut().engine.status(a)).toMatchObject({
      poolId: far,
      dailyCostMicros: 250,
      dailyReservedMicros: 0,
      sessionTokensUsed: 250,
    });
    expect(await ut().engine.poolStatus(far)).toMatchObject({ dailyCostMicros: 0 });
    // It decides, settles and is found there; its old settle is still answered.
    const h2 = await hold(ut().engine, a, 100);
    if (!h2.allowed) throw new Error('denied');
    expect(await ut().engine.poolStatus(far)).toMatchObject({ dailyReservedMicros: 100 });
    const again = await ut().engine.settle({
      reservationId: h.reservationId,
      inputTokens: 250,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    expect(again.outcome).toBe('already_closed');
    await ut().engine.release({ reservationId: h2.reservationId, actor: 'library' });
    // And back to no pool, at home.
    const back = await ut().engine.moveAgent(a, null, 'admin');
    expect(back.status).toMatchObject({ poolId: null, dailyCostMicros: 250 });
    expect(await ut().engine.poolStatus(far)).toMatchObject({ agents: 0, dailyReservedMicros: 0 });
    expect((await ut().engine.listAgents()).filter((s) => s.status.agentId === a)).toHaveLength(1);
  });

  it.runIf(kind !== 'memory')(
    "a second engine's stale directory cache: found again after a move, not found after a delete",
    async () => {
      const other = new RedisEngine({
        client: redisClient(kind as 'redis' | 'cluster'),
        ownsClient: true,
      });
      try {
        const a = uid('pa');
        const home = shardOf(a, DEFAULT_SHARDS);
        const p1 = await root(idOn('pr', home, false));
        const p2 = await root(idOn('pr', shardOf(p1, DEFAULT_SHARDS), false));
        await registerIn(ut().engine, p1, { agentId: a });
        // The other engine learns where the agent lives (and holds nothing open).
        const first = await hold(other, a, 10);
        if (!first.allowed) throw new Error('denied');
        await other.release({ reservationId: first.reservationId, actor: 'library' });
        await ut().engine.moveAgent(a, p2, 'admin');
        // `other` still caches the old shard: it finds the agent at its new one.
        const d = await hold(other, a, 10);
        expect(d.allowed).toBe(true);
        expect(await ut().engine.poolStatus(p2)).toMatchObject({ dailyReservedMicros: 10 });
        await ut().engine.deleteAgent(a, 'admin');
        expect(await hold(other, a, 10)).toMatchObject({ allowed: false, code: 'AGENT_NOT_FOUND' });
        expect(await other.status(a)).toBeNull();
      } finally {
        await other.close();
      }
    },
  );

  it.runIf(kind !== 'memory')(
    'a registration cut after its claim: not found, taken over only when old, completed when sent again',
    async () => {
      const raw = ut().raw as NonNullable<EngineUnderTest['raw']>;
      const a = uid('pa');
      const home = shardOf(a, DEFAULT_SHARDS);
      const far = await root(idOn('pr', home, false));
      const at = shardOf(far, DEFAULT_SHARDS);
      // The claim of a register whose process died before it created the agent.
      await raw.hset(dirKey(home), a, `a${at}:${Date.now()}`);
      expect(await ut().engine.status(a)).toBeNull();
      expect(await hold(ut().engine, a, 10)).toMatchObject({
        allowed: false,
        code: 'AGENT_NOT_FOUND',
      });
      // Another registration of the id is refused while the claim may still be completed.
      expect(await rejects(registerIn(ut().engine, undefined, { agentId: a }))).toMatchObject({
        code: 'CONFLICT',
        details: { reason: 'registration_pending' },
      });
      // The same registration sent again completes it.
      await registerIn(ut().engine, far, { agentId: a });
      expect((await ut().engine.status(a))?.poolId).toBe(far);
      // A claim never completed and old enough is taken over.
      const b = uid('pa');
      const bHome = shardOf(b, DEFAULT_SHARDS);
      await raw.hset(dirKey(bHome), b, `a${(bHome + 1) % DEFAULT_SHARDS}:1000`);
      await registerIn(ut().engine, undefined, { agentId: b });
      expect((await ut().engine.status(b))?.poolId).toBeNull();
      expect(await raw.hget(dirKey(bHome), b)).toBeNull();
    },
  );

  it.runIf(kind !== 'memory')(
    'a move cut after its freeze is completed by the next call that meets it',
    async () => {
      const raw = ut().raw as NonNullable<EngineUnderTest['raw']>;
      const a = uid('pa');
      const home = shardOf(a, DEFAULT_SHARDS);
      const far = await root(idOn('pr', home, false));
      const at = shardOf(far, DEFAULT_SHARDS);
      await registerIn(ut().engine, undefined, { agentId: a });
      await ut().engine.recordUsage({
        agentId: a,
        inputTokens: 700,
        outputTokens: 0,
        rates: PROFILE.rates,
        result: 'success',
        actor: 'library',
      });
      // The first step of a move whose process died (what ops/moveAgent.ts sends).
      const k = agentKeys(a, DEFAULT_SHARDS);
      await raw.eval(
        loadScript('freezeAgent-3'),
        3,
        k.agent,
        k.leases,
        k.outbox,
        0,
        '-7000-8000-000000000000',
        a,
        `0123456789abcdef|${at}|${far}|${far}|admin`,
        2048,
      );
      expect(await raw.exists(k.agent)).toBe(0);
      // The next decision meets MOVING, completes the move and decides on the new shard.
      const d = await hold(ut().engine, a, 10);
      expect(d.allowed).toBe(true);
      expect(await ut().engine.status(a)).toMatchObject({ poolId: far, dailyCostMicros: 700 });
      expect(await ut().engine.poolStatus(far)).toMatchObject({
        agents: 1,
        dailyReservedMicros: 10,
      });
      expect(await raw.hget(dirKey(home), a)).toMatch(new RegExp(`^a${at}:`));
      expect(await raw.exists(`${k.agent}:frozen`)).toBe(0);
      const moved = (await ut().engine.readOutbox()).filter(
        (e) => e.fields.agent_id === a && e.fields.type === 'agent_moved',
      );
      expect(moved.map((e) => [e.fields.from_pool_id, e.fields.pool_id])).toEqual([['', far]]);
    },
  );
});
