/**
 * An agent's rate limits, monthly limit and time zone survive a restore from
 * the store, with the spend of its LOCAL day and month (docs/recovery.md):
 * Redis data loss (FLUSHALL, then the first call restores the shard) on PGlite
 * and on PostgreSQL, and an embedded restart (a new MemoryEngine restored from
 * the PGlite data folder). The engine's clock is moved with its test offset so
 * that the New York day and month differ from the UTC ones: at NOW
 * (2027-04-01T02:00Z) it is 2027-03-31 22:00 in New York.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { drainShard } from '../../src/audit/drain/index.js';
import { restoreFromStore } from '../../src/audit/embedded/index.js';
import { createStore } from '../../src/audit/store/index.js';
import { toBudgetStatus } from '../../src/budget/status.js';
import { agentKeys, DEFAULT_SHARDS } from '../../src/engine/keys.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import type { Engine, EngineStatus } from '../../src/engine/types.js';
import { createTollgate } from '../../src/index.js';
import { lossRig } from '../support/loss-rig.js';

const _databaseUrl = inject('databaseUrl');
const DIGEST = 'a'.repeat(64);
/** $1 per million tokens: N tokens cost N µ$. */
const RATES = { model: 'm', inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 };
const ZONE = 'America/New_York';
const NOW = Date.parse('2027-04-01T02:00:00Z');
/** Spend at these instants (µ$): New York's day 2027-03-31 is [04:00Z, next 04:00Z), its month March. */
const SPENDS = [
  ['2027-02-28T12:00:00Z', 1], // February in New York: in neither
  ['2027-03-10T12:00:00Z', 20], // March: the month only
  ['2027-03-31T12:00:00Z', 300], // the local day and month (and the UTC day 03-31)
  ['2027-04-01T01:00:00Z', 4000], // the local day and month (UTC: April 1st)
] as const;
const LOCAL_DAY = 4300;
const LOCAL_MONTH = 4320;
const hex = () => randomBytes(4).toString('hex');

function at(engine: Engine, ms: number): void {
  engine.setClockOffsetForTests(ms - Date.now());
}

/** Registers the zoned agent and a UTC one, and spends SPENDS with the clock moved; ends at NOW. */
async function traffic(engine: Engine): Promise<{ zoned: string; utc: string }> {
  const zoned = `ny-${hex()}`;
  const utc = `utc-${hex()}`;
  at(engine, Date.parse(SPENDS[0][0]) - 60_000);
  for (const [agentId, timeZone] of [
    [zoned, ZONE],
    [utc, undefined],
  ] as const) {
    await engine.registerAgent({
      agentId,
      role: 'coder',
      sessionTokenLimit: 10_000_000,
      dailyLimitMicros: 1_000_000_000,
      requestsPerMinute: 120,
      tokensPerMinute: 50_000,
      monthlyLimitMicros: 90_000_000,
      timeZone,
      keyDigest: DIGEST,
      metadata: '{}',
      actor: 'library',
    });
  }
  for (const [iso, tokens] of SPENDS) {
    at(engine, Date.parse(iso));
    for (const agentId of [zoned, utc]) {
      await engine.recordUsage({
        agentId,
        inputTokens: tokens,
        outputTokens: 0,
        rates: RATES,
        result: 'success',
        actor: 'library',
      });
    }
  }
  at(engine, NOW);
  return { zoned, utc };
}

/** What a restore keeps of a status (not the time it was read). */
function kept(s: EngineStatus | null) {
  if (s === null) return null;
  const { nowMs: _now, ...rest } = s;
  return rest;
}

function expectRestored(s: EngineStatus | null, before: EngineStatus): void {
  expect(kept(s)).toEqual(kept(before));
}

/** The zoned agent's status at NOW, before any restore: its local day and month. */
function expectLocal(s: EngineStatus): void {
  expect(s).toMatchObject({
    timeZone: ZONE,
    day: 20270331,
    month: 202703,
    dailyCostMicros: LOCAL_DAY,
    monthlyCostMicros: LOCAL_MONTH,
    requestsPerMinute: 120,
    tokensPerMinute: 50_000,
    monthlyLimitMicros: 90_000_000,
  });
  const b = toBudgetStatus(s);
  expect(b.daily.time_zone).toBe(ZONE);
  expect(b.monthly.cost_limit).toBe(90);
}

describe.each(['pglite', 'postgres'] as const)('Redis data loss (%s)', (kind) => {
  const rig = lossRig(kind, 'periods');

  it('rate limits, monthly limit and zone come back, with the local day and month', async () => {
    const { redis, engine, store } = await rig.start();
    const { zoned, utc } = await traffic(engine);
    const before = (await engine.status(zoned)) as EngineStatus;
    const beforeUtc = (await engine.status(utc)) as EngineStatus;
    expectLocal(before);
    // The UTC agent: April 1st (UTC), so only the last spend.
    expect(beforeUtc).toMatchObject({ day: 20270401, dailyCostMicros: 4000, month: 202704 });

    for (let shard = 0; shard < DEFAULT_SHARDS; shard++) {
      await drainShard({ redis, store, shard, consumer: 'periods-test' });
    }
    const [a] = (await store.agents()).filter((x) => x.agentId === zoned);
    expect(a).toMatchObject({
      requestsPerMinute: 120,
      tokensPerMinute: 50_000,
      monthlyCostLimit: 90_000_000,
      timeZone: ZONE,
    });
    await redis.flushall();

    at(engine, NOW + 60_000);
    const after = await engine.status(zoned);
    expectRestored(after, before);
    expectLocal(after as EngineStatus);
    expectRestored(await engine.status(utc), beforeUtc);
    // The keys of the local day and month (src/engine/keys.ts names them as the scripts do).
    const k = agentKeys(zoned, DEFAULT_SHARDS);
    expect(await redis.hget(k.day(20270331), 'cost')).toBe(String(LOCAL_DAY));
    expect(await redis.hget(k.month(202703), 'cost')).toBe(String(LOCAL_MONTH));
    // The restored counters go on: the next spend adds to the local day and month.
    const r = await engine.recordUsage({
      agentId: zoned,
      inputTokens: 5,
      outputTokens: 0,
      rates: RATES,
      result: 'success',
      actor: 'library',
    });
    expect(r.status).toMatchObject({
      dailyCostMicros: LOCAL_DAY + 5,
      monthlyCostMicros: LOCAL_MONTH + 5,
    });
    engine.setClockOffsetForTests(0);
  });
});

describe('embedded restart (PGlite)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('rate limits, monthly limit and zone come back, with the local day and month', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-periods-embedded-'));
    dirs.push(dataDir);
    const engine = new MemoryEngine();
    const tg = await createTollgate({ engine, store: { dataDir } });
    const { zoned, utc } = await traffic(engine);
    const before = (await engine.status(zoned)) as EngineStatus;
    const beforeUtc = (await engine.status(utc)) as EngineStatus;
    expectLocal(before);
    await tg.close(); // flushes the drain into the data folder

    // Restart: a new engine, restored from the folder at NOW + 1 min of its clock.
    const engine2 = new MemoryEngine();
    at(engine2, NOW + 60_000);
    const tg2 = await createTollgate({ engine: engine2 });
    const store2 = await createStore({ dataDir });
    try {
      expect(await restoreFromStore(engine2, store2, NOW + 60_000)).toMatchObject({ agents: 2 });
    } finally {
      await store2.close();
    }
    const after = await engine2.status(zoned);
    expectRestored(after, before);
    expectLocal(after as EngineStatus);
    expectRestored(await engine2.status(utc), beforeUtc);
    await tg2.close();
  });
});
