import type { Engine } from '../engine/types.js';

/**
 * The background sweep (docs/engine.md): frees the holds whose lease passed
 * on agents no call touches, and forgets their idempotency records past their
 * hour. `Engine.sweepShard(shard, cursor)` does one bounded step (about 100
 * agents); a run walks every shard from its cursor until the shard is done
 * ('0') or the run's budget of steps or time is spent. A shard left unfinished
 * goes on from its cursor at the next run (the cursors are this sweeper's, in
 * memory), so every agent is visited however large the fleet.
 *
 * Runs as a BullMQ repeatable job of the audit worker in Redis mode
 * (src/audit/drain/sweep-job.ts) and as an unref'd timer in embedded mode
 * (createTollgate, src/tollgate.ts).
 */

export type SweepEngine = Pick<Engine, 'shards' | 'sweepShard'>;

export interface SweepOptions {
  /** Most sweepShard steps one run takes, all shards together. Default 1,000. */
  maxSteps?: number;
  /** A run stops after this long (the next run goes on from the cursors). Default 10 s. */
  maxMs?: number;
  /** Checked between steps: true stops the run (shutdown). */
  shouldStop?: () => boolean;
}

export interface SweepRun {
  /** sweepShard steps taken. */
  steps: number;
  /** Agents visited. */
  agents: number;
  /** Holds freed because their lease passed. */
  freed: number;
  /** Shards walked to their end in this run. */
  shardsDone: number;
  /** True when every shard was walked to its end (no cursor left). */
  complete: boolean;
}

export interface SweepStats {
  /** Runs finished (complete or not). */
  runs: number;
  /** Runs that failed (the engine threw; the next run goes on from the cursors). */
  failures: number;
  /** Agents visited, all runs. */
  agents: number;
  /** Holds freed, all runs. */
  freed: number;
  /** Date.now() of the last run's end, null before the first. */
  lastRunAt: number | null;
  lastError: string | null;
}

export interface Sweeper {
  /** One run (runs never overlap: a call during a run waits for it and answers its result). */
  run(): Promise<SweepRun>;
  stats(): SweepStats;
}

/** A sweeper over `engine`: its cursors and counters. */
export function createSweeper(engine: SweepEngine, opts: SweepOptions = {}): Sweeper {
  const maxSteps = opts.maxSteps ?? 1_000;
  const maxMs = opts.maxMs ?? 10_000;
  const shouldStop = opts.shouldStop ?? (() => false);
  const cursors: string[] = Array.from({ length: engine.shards }, () => '0');
  /** The shard the next run starts with (shards take turns being first). */
  let first = 0;
  const stats: SweepStats = {
    runs: 0,
    failures: 0,
    agents: 0,
    freed: 0,
    lastRunAt: null,
    lastError: null,
  };

  const runOnce = async (): Promise<SweepRun> => {
    const r: SweepRun = { steps: 0, agents: 0, freed: 0, shardsDone: 0, complete: false };
    const deadline = Date.now() + maxMs;
    const out = () => r.steps >= maxSteps || Date.now() >= deadline || shouldStop();
    try {
      while (r.shardsDone < engine.shards && !out()) {
        const shard = first;
        do {
          const step = await engine.sweepShard(shard, cursors[shard] as string);
          r.steps++;
          r.agents += step.agents;
          r.freed += step.freed;
          stats.agents += step.agents;
          stats.freed += step.freed;
          cursors[shard] = step.cursor;
        } while (cursors[shard] !== '0' && !out());
        if (cursors[shard] !== '0') break; // unfinished: the next run starts here
        r.shardsDone++;
        first = (shard + 1) % engine.shards;
      }
      r.complete = r.shardsDone === engine.shards;
      stats.runs++;
      stats.lastRunAt = Date.now();
      return r;
    } catch (e) {
      stats.failures++;
      stats.lastError = (e as Error)?.message ?? String(e);
      throw e;
    }
  };

  let running: Promise<SweepRun> | undefined;
  return {
    run() {
      running ??= runOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
    stats: () => ({ ...stats }),
  };
}

export interface SweepTimerOptions extends SweepOptions {
  /** Time between runs. Default 30 s. */
  everyMs?: number;
  /** Told of a failed run (the next one goes on). Default: console.error. */
  onError?: (error: unknown) => void;
}

export interface SweepTimer {
  stats(): SweepStats;
  /** Runs now (waits for a run in progress instead of starting a second). */
  runNow(): Promise<SweepRun>;
  /** Clears the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Embedded mode: runs the sweep every `everyMs` on an unref'd timer (it never
 * keeps the process alive); stop() clears it.
 */
export function startSweepTimer(engine: SweepEngine, opts: SweepTimerOptions = {}): SweepTimer {
  let stopped = false;
  const sweeper = createSweeper(engine, {
    ...opts,
    shouldStop: () => stopped || (opts.shouldStop?.() ?? false),
  });
  const onError =
    opts.onError ??
    ((e: unknown) =>
      console.error(`tollgate: background sweep failed: ${(e as Error)?.message ?? e}`));
  let current: Promise<unknown> | undefined;
  const runNow = (): Promise<SweepRun> => {
    const p = sweeper.run();
    current = p.catch(() => undefined);
    return p;
  };
  const timer = setInterval(() => {
    runNow().catch(onError);
  }, opts.everyMs ?? 30_000);
  timer.unref();
  return {
    stats: () => sweeper.stats(),
    runNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
