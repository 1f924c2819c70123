/**
 * One drain-throughput run: fill the outboxes with exactly N decisions
 * through the library, open a fresh store, then time moving all of them into
 * it with the real drain code, either
 *  - `drainShard` called directly, a few shards at a time, each drained until
 *    its outbox is empty (the drain alone, no queue), or
 *  - the BullMQ worker (`startAuditWorker`, default settings: tick every
 *    200 ms, 4 drain jobs at once, batches of 1,000), timed from its start
 *    until its stats count N stored events;
 * then check the store holds N rows, N distinct, and the outboxes are empty.
 * For comparison, `insertOnly` times the store alone: the same events, read
 * and parsed before the clock starts, handed to `insertEvents` in batches of
 * 1,000, a few at a time (what a drain would do with free reads and parsing).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { drainShard, MAX_BATCH } from '../../src/audit/drain/drain.js';
import { startAuditWorker, workerConnection } from '../../src/audit/drain/worker.js';
import { type AuditEvent, parseOutboxFields } from '../../src/audit/event.js';
import type { AuditStore } from '../../src/audit/store/types.js';
import { outboxKey } from '../../src/engine/keys.js';
import { unpackEntry } from '../../src/engine/outbox-format.js';
import { fullGc } from '../lib/gc.js';
import { otherCores, startMeter } from '../lib/meter.js';
import { startProfile, stopProfile } from '../lib/profiler.js';
import type { BenchDatabase } from '../lib/services.js';
import { outboxTotal, trimOutboxes, type Workload } from '../lib/workload.js';
import { CONFIG } from './config.js';
import { openStore, type StoreKind } from './stores.js';
import { timedStore } from './timed-store.js';

export type DrainMode = 'insertOnly' | 'drainShard' | 'worker';

export interface DrainRun {
  store: StoreKind;
  mode: DrainMode;
  events: number;
  ms: number;
  perSec: number;
  /** The fill before it: library checkPermission rate at CONFIG.fillConcurrency (decisions = events /s). */
  fillPerSec: number;
  /** Outbox entries the fill left (one per authorize script call): events ÷ entries = decisions per call. */
  entries: number;
  /** insertEvents statements (batches) the drains made, and the mean events in one. */
  batches: number;
  eventsPerBatch: number;
  /** Time inside insertEvents ÷ the run's wall time: the mean number of inserts in flight. */
  insertsInFlight: number;
  rows: number;
  distinct: number;
  /** Entries still in the outboxes after the run. */
  left: number;
  /** CPU per event, µs: this Node process (drain code, pg / PGlite), Redis, PostgreSQL. */
  nodeUsPerEvent: number;
  redisUsPerEvent: number;
  /** The bench database's backends and the server's own processes (NaN for PGlite). */
  pgUsPerEvent: number;
  /** Share of the run each side kept a core busy, %. */
  nodePct: number;
  redisPct: number;
  pgPct: number;
  /** Cores busy with other processes (not this one, Redis or PostgreSQL's share) during the run. */
  otherCores: number;
  problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Removes BullMQ's keys (the tick scheduler would otherwise outlive the worker). */
export async function clearQueue(admin: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', '{tg-audit}*', 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
}

async function runDrainShards(
  redisUrl: string,
  store: AuditStore,
  shards: number,
): Promise<{ stored: number }> {
  const redis = workerConnection(redisUrl) as Redis;
  try {
    const todo = Array.from({ length: shards }, (_, s) => s);
    let stored = 0;
    const lane = async () => {
      for (let s = todo.shift(); s !== undefined; s = todo.shift()) {
        const r = await drainShard({ redis, store, shard: s, consumer: 'bench-drainshard' });
        stored += r.stored;
      }
    };
    await Promise.all(Array.from({ length: CONFIG.drainConcurrency }, lane));
    return { stored };
  } finally {
    await redis.quit().catch(() => undefined);
  }
}

/** Every outbox event, parsed as the drain parses it, in batches of up to MAX_BATCH events per shard. */
async function readBatches(admin: Redis, shards: number): Promise<AuditEvent[][]> {
  const batches: AuditEvent[][] = [];
  for (let s = 0; s < shards; s++) {
    let start = '-';
    let events: AuditEvent[] = [];
    for (;;) {
      const rows = await admin.xrange(outboxKey(s), start, '+', 'COUNT', MAX_BATCH);
      for (const [, flat] of rows) {
        for (const fields of unpackEntry(flat)) {
          events.push(parseOutboxFields(fields));
          if (events.length === MAX_BATCH) {
            batches.push(events);
            events = [];
          }
        }
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < MAX_BATCH) break;
      start = `(${last[0]}`;
    }
    if (events.length > 0) batches.push(events);
  }
  return batches;
}

async function runInsertOnly(
  store: AuditStore,
  batches: AuditEvent[][],
): Promise<{ stored: number }> {
  const todo = [...batches];
  let stored = 0;
  const lane = async () => {
    for (let b = todo.shift(); b !== undefined; b = todo.shift()) {
      // Not `stored += await …`: that reads `stored` before the await (lanes would lose counts).
      const n = await store.insertEvents(b);
      stored += n;
    }
  };
  await Promise.all(Array.from({ length: CONFIG.drainConcurrency }, lane));
  return { stored };
}

async function runWorker(
  redisUrl: string,
  store: AuditStore,
  shards: number,
  events: number,
  problems: string[],
): Promise<{ stored: number; stop: () => Promise<void> }> {
  const worker = await startAuditWorker({
    redis: redisUrl,
    store,
    shards,
    ownsStore: false,
    log: (level, message, data) => {
      if (level !== 'info') problems.push(`worker ${level}: ${message} ${JSON.stringify(data)}`);
    },
  });
  const deadline = performance.now() + CONFIG.drainTimeoutMs;
  while (worker.stats().stored < events && performance.now() < deadline) await sleep(5);
  const s = worker.stats();
  return {
    stored: s.stored,
    stop: () => worker.close(),
  };
}

export async function drainRun(o: {
  mode: DrainMode;
  kind: StoreKind;
  work: Workload;
  admin: Redis;
  redisUrl: string;
  db: BenchDatabase;
  schema: string;
  /** A folder: write a CPU profile of this process over the drain (<store>-<mode>.cpuprofile). */
  profileDir?: string;
}): Promise<DrainRun> {
  const { admin, work } = o;
  const events = CONFIG.events;
  const problems: string[] = [];
  await trimOutboxes(admin, work.shards);
  const fill = await work.fill(events, CONFIG.fillConcurrency);
  const queued = await outboxTotal(admin, work.shards);
  // An entry holds one script call's events: one per decision, or several for a batched authorize.
  if (queued === 0 || queued > events) {
    problems.push(`outboxes hold ${queued} entries after ${events} decisions`);
  }

  const bs = await openStore(o.kind, o.db.url, o.schema);
  const timed = timedStore(bs.store);
  try {
    const parsed = o.mode === 'insertOnly' ? await readBatches(admin, work.shards) : [];
    fullGc();
    if (o.profileDir) await startProfile();
    const meter = await startMeter({ redis: admin, db: o.kind === 'postgres' ? o.db : undefined });
    let stored: number;
    let stopWorker: (() => Promise<void>) | undefined;
    if (o.mode === 'insertOnly') {
      ({ stored } = await runInsertOnly(timed.store, parsed));
    } else if (o.mode === 'drainShard') {
      ({ stored } = await runDrainShards(o.redisUrl, timed.store, work.shards));
    } else {
      const w = await runWorker(o.redisUrl, timed.store, work.shards, events, problems);
      ({ stored } = w);
      stopWorker = w.stop;
    }
    const usage = await meter.stop();
    if (o.profileDir) {
      const file = join(o.profileDir, `${o.kind}-${o.mode}.cpuprofile`);
      await stopProfile(file);
      // For bench/http/profile-summary.ts: its "requests" are events here.
      writeFileSync(file.replace(/\.cpuprofile$/, '.json'), JSON.stringify({ requests: events }));
    }
    await stopWorker?.();
    await clearQueue(admin);
    // insertOnly leaves the outboxes as they were: empty them for the next run.
    if (o.mode === 'insertOnly') await trimOutboxes(admin, work.shards);

    if (stored !== events) problems.push(`the drain stored ${stored} of ${events} events`);
    const { rows, distinct } = await bs.count();
    if (rows !== events || distinct !== events) {
      problems.push(`store holds ${rows} rows (${distinct} distinct) for ${events} events`);
    }
    const left = await outboxTotal(admin, work.shards);
    if (left !== 0) problems.push(`${left} entries left in the outboxes`);
    const { seconds: secs, nodeCpu, redisCpu, pgCpu: pg } = usage;
    const ms = secs * 1000;
    return {
      store: o.kind,
      mode: o.mode,
      events,
      ms,
      perSec: events / secs,
      fillPerSec: fill.perSec,
      entries: queued,
      batches: timed.inserts,
      eventsPerBatch: timed.events / timed.inserts,
      insertsInFlight: timed.insertMs / ms,
      rows,
      distinct,
      left,
      nodeUsPerEvent: (nodeCpu * 1e6) / events,
      redisUsPerEvent: (redisCpu * 1e6) / events,
      pgUsPerEvent: (pg * 1e6) / events,
      nodePct: (nodeCpu / secs) * 100,
      redisPct: (redisCpu / secs) * 100,
      pgPct: (pg / secs) * 100,
      otherCores: otherCores(usage),
      problems,
    };
  } finally {
    await bs.close();
  }
}
