/**
 * Lag under a steady load: decisions through the library at a fixed rate
 * (open loop: issued on a clock, whether or not earlier ones have answered)
 * while the BullMQ worker (`startAuditWorker`, default settings) drains into
 * PostgreSQL, all in this process. Every event's lag is measured, not a
 * sample: the store handed to the worker records, for each event of each
 * insert, its `at` (Redis time, set by the deciding script) and the moment
 * the insert returned (committed, visible to any reader). Events whose `at`
 * falls in the window are the figures. After the load stops, the backlog must
 * drain and the store must hold one row per decision.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { startAuditWorker } from '../../src/audit/drain/worker.js';
import { fullGc } from '../lib/gc.js';
import { otherCores, startMeter } from '../lib/meter.js';
import type { BenchDatabase } from '../lib/services.js';
import { LatencyRecorder, percentile } from '../lib/stats.js';
import { outboxTotal, trimOutboxes, type Workload } from '../lib/workload.js';
import { CONFIG } from './config.js';
import { clearQueue } from './drain.js';
import { openStore } from './stores.js';
import { timedStore } from './timed-store.js';

export interface LagRun {
  targetRate: number;
  /** Decisions answered in the window ÷ its length. */
  achievedRate: number;
  windowMs: number;
  /** Decisions made in the whole run (warm-up included) = events expected in the store. */
  decisions: number;
  /** Events with `at` in the window (the lag samples). */
  samples: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** Decision latency in the window (checkPermission, issue to answer). */
  decisionP50Ms: number;
  decisionP99Ms: number;
  /** Largest outbox backlog (sum of XLEN) sampled in the window. */
  maxBacklog: number;
  /** After the load stopped: time until every event was in the store. */
  catchUpMs: number;
  /** Worker inserts in the window, and their mean size. */
  inserts: number;
  eventsPerInsert: number;
  rows: number;
  /** Ticks on which the generator hit its in-flight cap (it fell behind its clock). */
  cappedTicks: number;
  /** Decisions that failed (e.g. the client's 800 ms command timeout), and the first reason. */
  failed: number;
  /** This process's event-loop delay in the window, p99 and max, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  nodePct: number;
  redisPct: number;
  pgPct: number;
  /** Cores busy with other processes during the window. */
  otherCores: number;
  problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function describe(e: unknown): string {
  const details = (e as { details?: unknown }).details;
  const text = e instanceof Error ? e.message : String(e);
  return details === undefined ? text : `${text} ${JSON.stringify(details)}`;
}

export async function lagRun(o: {
  work: Workload;
  admin: Redis;
  redisUrl: string;
  db: BenchDatabase;
  schema: string;
}): Promise<LagRun> {
  const { admin, work } = o;
  const c = CONFIG.lag;
  const problems: string[] = [];
  await trimOutboxes(admin, work.shards);
  const bs = await openStore('postgres', o.db.url, o.schema);
  const timed = timedStore(bs.store, true);
  let worker: Awaited<ReturnType<typeof startAuditWorker>> | undefined;
  try {
    fullGc();
    worker = await startAuditWorker({
      redis: o.redisUrl,
      store: timed.store,
      shards: work.shards,
      ownsStore: false,
      log: (level, message, data) => {
        if (level !== 'info') problems.push(`worker ${level}: ${message} ${JSON.stringify(data)}`);
      },
    });

    // The open-loop generator.
    let stop = false;
    let recording = false;
    let issued = 0;
    let inFlight = 0;
    let answeredInWindow = 0;
    let cappedTicks = 0;
    let failed = 0;
    let firstFailure = '';
    const latency = new LatencyRecorder();
    const generator = (async () => {
      const t0 = performance.now();
      while (!stop) {
        const due = Math.floor(((performance.now() - t0) * c.rate) / 1000) - issued;
        for (let i = 0; i < due; i++) {
          if (inFlight >= c.maxInFlight) {
            cappedTicks++;
            break;
          }
          const seq = issued++;
          const started = performance.now();
          const counted = recording;
          inFlight++;
          work.authorize(seq).then(
            () => {
              inFlight--;
              if (counted && recording) {
                answeredInWindow++;
                latency.add(performance.now() - started);
              }
            },
            (e: unknown) => {
              inFlight--;
              failed++;
              if (firstFailure === '') firstFailure = describe(e);
            },
          );
        }
        await sleep(c.tickMs);
      }
      while (inFlight > 0) await sleep(5);
    })();

    // The backlog, sampled while the window is open.
    let maxBacklog = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = await outboxTotal(admin, work.shards);
        if (recording) maxBacklog = Math.max(maxBacklog, n);
        await sleep(c.backlogEveryMs);
      }
    })();

    await sleep(c.warmupMs);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const inserts0 = timed.inserts;
    const events0 = timed.events;
    const meter = await startMeter({ redis: admin, db: o.db });
    const windowStart = Date.now();
    recording = true;
    await sleep(c.durationMs);
    recording = false;
    loop.disable();
    const windowEnd = Date.now();
    const usage = await meter.stop();
    const windowMs = usage.seconds * 1000;
    const inserts = timed.inserts - inserts0;
    const insertedEvents = timed.events - events0;
    stop = true;
    await generator;
    sampling = false;
    await sampler;
    if (failed > 0) problems.push(`${failed} decisions failed; the first: ${firstFailure}`);

    // Catch-up: every decision's event in the store (stored entries are deleted: XLEN 0).
    const s0 = performance.now();
    let backlog = await outboxTotal(admin, work.shards);
    while (backlog > 0 && performance.now() - s0 < c.settleTimeoutMs) {
      await sleep(5);
      backlog = await outboxTotal(admin, work.shards);
    }
    const catchUpMs = performance.now() - s0;
    if (backlog > 0) {
      problems.push(`${c.settleTimeoutMs} ms after the load, ${backlog} events were not stored`);
    }
    await worker.close();
    worker = undefined;
    await clearQueue(admin);

    const lags: number[] = [];
    timed.visible.forEach((at, seen) => {
      if (at >= windowStart && at < windowEnd) lags.push(seen - at);
    });
    const sorted = Float64Array.from(lags).sort();
    const { rows, distinct } = await bs.count();
    // A decision that timed out on the client may still have run (and emitted its event).
    if (rows !== distinct || rows > issued || (failed === 0 && rows !== issued)) {
      problems.push(`store holds ${rows} rows (${distinct} distinct) for ${issued} decisions`);
    }
    const left = await outboxTotal(admin, work.shards);
    if (left !== 0) problems.push(`${left} entries left in the outboxes`);
    const { p50, p99 } = latency.summary();
    const { seconds: secs, nodeCpu, redisCpu, pgCpu: pg } = usage;
    return {
      targetRate: c.rate,
      achievedRate: answeredInWindow / secs,
      windowMs,
      decisions: issued,
      samples: sorted.length,
      lagP50Ms: percentile(sorted, 50),
      lagP99Ms: percentile(sorted, 99),
      lagMaxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
      decisionP50Ms: p50,
      decisionP99Ms: p99,
      maxBacklog,
      catchUpMs,
      inserts,
      eventsPerInsert: insertedEvents / inserts,
      rows,
      cappedTicks,
      failed,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
      nodePct: (nodeCpu / secs) * 100,
      redisPct: (redisCpu / secs) * 100,
      pgPct: (pg / secs) * 100,
      otherCores: otherCores(usage),
      problems,
    };
  } finally {
    await worker?.close().catch(() => undefined);
    await bs.close();
  }
}
