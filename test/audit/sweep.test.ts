/**
 * The background sweep (src/audit/sweep.ts): a hold whose lease passed is
 * freed without any call touching its agent, by the embedded timer
 * (createTollgate on MemoryEngine) and by the audit worker's `sweep` job in
 * Redis mode (a private Redis); and the sweeper's bounded runs, which go on
 * from their cursors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SWEEP_SCHEDULER_ID,
  startAuditWorker,
  TICK_SCHEDULER_ID,
} from '../../src/audit/drain/index.js';
import { createStore } from '../../src/audit/store/index.js';
import { createSweeper, type SweepEngine } from '../../src/audit/sweep.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import type { AuthorizeInput, Engine, SweepResult } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { uid } from '../support/engines.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A hold of `tokens` on `agentId` whose lease ends after `leaseMs`. */
async function hold(tg: Tollgate, agentId: string, leaseMs: number, tokens = 1000) {
  const input: AuthorizeInput = {
    agentId,
    operation: 'read_file',
    estimatedTokens: tokens,
    rates: tg.policy.rates(),
    leaseMs,
    allowedRoles: tg.policy.rolesAllowed('read_file'),
    actor: 'library',
  };
  const r = await tg.engine.authorize(input);
  if (!r.allowed) throw new Error(`denied: ${r.code}`);
  return r.reservationId;
}

/** The lease_expired releases in the outbox, by reservation id. */
async function expiredReleases(engine: Engine): Promise<string[]> {
  return (await engine.readOutbox())
    .filter((e) => e.fields.type === 'release' && e.fields.result === 'lease_expired')
    .map((e) => e.fields.reservation_id as string);
}

describe('the sweeper', () => {
  /** A fake engine: `agents[s]` agents on shard s, visited two per step; each visit frees one. */
  function fake(agents: number[]) {
    const steps: [number, string][] = [];
    const engine: SweepEngine = {
      shards: agents.length,
      async sweepShard(shard, cursor): Promise<SweepResult> {
        steps.push([shard, cursor]);
        const at = Number(cursor);
        const n = Math.min(2, (agents[shard] as number) - at);
        const next = at + n >= (agents[shard] as number) ? '0' : String(at + n);
        return { cursor: next, agents: n, freed: n };
      },
    };
    return { engine, steps };
  }

  it('walks every shard to its end, from cursor 0', async () => {
    const { engine, steps } = fake([3, 0, 5]);
    const r = await createSweeper(engine).run();
    expect(r).toEqual({ steps: 6, agents: 8, freed: 8, shardsDone: 3, complete: true });
    expect(steps).toEqual([
      [0, '0'],
      [0, '2'],
      [1, '0'],
      [2, '0'],
      [2, '2'],
      [2, '4'],
    ]);
  });

  it('a run bounded by steps stops mid-shard; the next run goes on from the cursor', async () => {
    const { engine, steps } = fake([5, 4]);
    const sweeper = createSweeper(engine, { maxSteps: 2 });
    expect(await sweeper.run()).toMatchObject({ steps: 2, agents: 4, complete: false });
    expect(await sweeper.run()).toMatchObject({ steps: 2, agents: 3, shardsDone: 1 });
    // Shard 1 finished, then shard 0 again from its start, as far as the budget goes.
    expect(await sweeper.run()).toMatchObject({ steps: 2, agents: 4, shardsDone: 1 });
    expect(steps).toEqual([
      [0, '0'],
      [0, '2'],
      [0, '4'],
      [1, '0'],
      [1, '2'],
      [0, '0'],
    ]);
    expect(sweeper.stats()).toMatchObject({ runs: 3, agents: 11, freed: 11, failures: 0 });
    // Unbounded: every shard to its end, then the run stops (each shard once).
    const whole = fake([5, 4]);
    expect(await createSweeper(whole.engine).run()).toMatchObject({ steps: 5, complete: true });
  });

  it('runs never overlap; a failure is counted and the next run goes on', async () => {
    let calls = 0;
    let fail = true;
    const engine: SweepEngine = {
      shards: 1,
      async sweepShard() {
        calls++;
        await sleep(20);
        if (fail) throw new Error('Redis away');
        return { cursor: '0', agents: 1, freed: 0 };
      },
    };
    const sweeper = createSweeper(engine);
    const [a, b] = [sweeper.run(), sweeper.run()];
    await expect(a).rejects.toThrow('Redis away');
    await expect(b).rejects.toThrow('Redis away');
    expect(calls).toBe(1);
    fail = false;
    expect(await sweeper.run()).toMatchObject({ complete: true, agents: 1 });
    expect(sweeper.stats()).toMatchObject({ runs: 1, failures: 1, lastError: 'Redis away' });
  });
});

describe('embedded: the sweep timer of createTollgate', () => {
  it('frees a hold whose lease passed, with no call for its agent', async () => {
    const engine = new MemoryEngine();
    const tg = await createTollgate({ engine, sweep: { everyMs: 50 } });
    cleanups.push(() => tg.close());
    const idle = uid('idle');
    const busy = uid('busy');
    await tg.identity.registerAgent(idle, 'coder');
    await tg.identity.registerAgent(busy, 'coder');
    const expiring = await hold(tg, idle, 1);
    const open = await hold(tg, busy, 600_000);
    engine.setClockOffsetForTests(60_000); // the short lease is long past; the long one is not
    await until('the sweep to free it', () => (tg.sweep?.stats().freed ?? 0) >= 1);
    expect(await expiredReleases(engine)).toEqual([expiring]);
    expect(await engine.expiredLeasesFreed()).toBe(1);
    expect(tg.sweep?.stats()).toMatchObject({ freed: 1, failures: 0 });
    expect((tg.sweep?.stats().agents ?? 0) >= 2).toBe(true);
    const s = await engine.status(idle);
    expect(s?.sessionTokensReserved).toBe(0);
    expect(s?.dailyReservedMicros).toBe(0);
    // The hold whose lease has not passed is still held.
    expect((await engine.status(busy))?.sessionTokensReserved).toBe(1000);
    expect(await expiredReleases(engine)).not.toContain(open);
  });

  it('is cleared on close(), and can be turned off', async () => {
    const tg = await createTollgate({ engine: new MemoryEngine(), sweep: { everyMs: 20 } });
    await until('a run', () => (tg.sweep?.stats().runs ?? 0) >= 1);
    await tg.close();
    const runs = tg.sweep?.stats().runs;
    await sleep(100);
    expect(tg.sweep?.stats().runs).toBe(runs);
    const off = await createTollgate({ engine: new MemoryEngine(), sweep: false });
    expect(off.sweep).toBeUndefined();
    await off.close();
  });
});

describe('Redis mode: the audit worker sweeps', () => {
  let server: RedisServer;
  let redis: Redis;
  let tg: Tollgate;
  let dir: string;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    tg = await createTollgate({ redis: server.url });
    dir = mkdtempSync(join(tmpdir(), 'tollgate-sweep-'));
  });
  afterAll(async () => {
    await tg?.close();
    redis?.disconnect();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('a repeatable sweep job frees a lapsed hold on an agent no call touches', async () => {
    const idle = uid('idle');
    await tg.identity.registerAgent(idle, 'coder');
    const expiring = await hold(tg, idle, 300);
    const freedBefore = await tg.engine.expiredLeasesFreed();
    const store = await createStore({ dataDir: join(dir, 'a') });
    cleanups.push(() => store.close());
    // No engine given: the worker opens its own RedisEngine on the same Redis.
    const w = await startAuditWorker({
      redis: server.url,
      store,
      everyMs: 100,
      sweepEveryMs: 200,
      log: () => undefined,
    });
    cleanups.push(() => w.close());
    const schedulers = (await w.queue.getJobSchedulers()).map((j) => j.key).sort();
    expect(schedulers).toEqual([SWEEP_SCHEDULER_ID, TICK_SCHEDULER_ID].sort());
    await until('the sweep to free it', () => w.stats().sweepFreed >= 1);
    expect(w.stats().sweeps).toBeGreaterThanOrEqual(1);
    expect(w.stats().sweptAgents).toBeGreaterThanOrEqual(1);
    expect(await tg.engine.expiredLeasesFreed()).toBe(freedBefore + 1);
    // The worker drains the release into the store: lease_expired, by the system.
    await until('the release to be stored', async () => {
      const page = await store.queryEvents({ agentId: idle, type: 'release' });
      return page.events.length === 1;
    });
    const [release] = (await store.queryEvents({ agentId: idle, type: 'release' })).events;
    expect(release).toMatchObject({
      reservation_id: expiring,
      result: 'lease_expired',
      actor: 'system',
    });
  });

  it('sweepEveryMs 0: no sweep scheduler (an earlier one is removed)', async () => {
    const store = await createStore({ dataDir: join(dir, 'b') });
    cleanups.push(() => store.close());
    const w = await startAuditWorker({
      redis: server.url,
      store,
      sweepEveryMs: 0,
      log: () => undefined,
    });
    cleanups.push(() => w.close());
    const schedulers = (await w.queue.getJobSchedulers()).map((j) => j.key);
    expect(schedulers).toEqual([TICK_SCHEDULER_ID]);
    expect(w.stats().sweeps).toBe(0);
  });
});
