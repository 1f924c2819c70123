import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuditWorkerStats } from '../audit/drain/worker.js';
import type { DrainStats } from '../audit/embedded/drain.js';
import type { SweepStats } from '../audit/sweep.js';

/**
 * The metrics of this process's background work, read from their counters on
 * each scrape: the embedded drain (`tg.drain`) or an in-process audit worker
 * (`serve --with-worker`), and the background sweep of expired holds (the
 * embedded timer `tg.sweep`, or the worker's sweep jobs).
 */

/** A counter set to a cumulative value read from elsewhere (it only grows there). */
export function setCounter(c: Counter, value: number): void {
  c.reset();
  c.inc(value);
}

export interface BackgroundSources {
  drain?: { stats(): DrainStats };
  worker?: { stats(): AuditWorkerStats };
  sweep?: { stats(): SweepStats };
}

export interface BackgroundMetrics {
  /** Whether there is a drain (embedded or a worker): its counters are the `drain` source. */
  readonly hasDrain: boolean;
  /** Reads the drain's counters (throws if they cannot be read). */
  readDrain(): void;
  /** Reads the sweep's counters (a no-op without a sweep). */
  readSweep(): void;
}

export function backgroundMetrics(
  registers: Registry[],
  src: BackgroundSources,
): BackgroundMetrics {
  const { drain, worker, sweep } = src;
  const drainMetrics =
    drain !== undefined || worker !== undefined
      ? {
          events: new Counter({
            name: 'tollgate_drain_events_total',
            help: 'Audit events the in-process drain handed to the store and acknowledged (new or already stored).',
            registers,
          }),
          inserted: new Counter({
            name: 'tollgate_drain_inserted_total',
            help: 'Of those, events new to the store.',
            registers,
          }),
          rejected: new Counter({
            name: 'tollgate_drain_rejected_total',
            help: 'Outbox events the drain could not store (unparseable, or dead-lettered by the worker).',
            registers,
          }),
        }
      : undefined;
  const embeddedDrainMetrics =
    drain !== undefined
      ? {
          failing: new Gauge({
            name: 'tollgate_drain_consecutive_failures',
            help: 'Store failures of the embedded drain since its last success (0: healthy).',
            registers,
          }),
          lastSuccess: new Gauge({
            name: 'tollgate_drain_last_success_timestamp_seconds',
            help: 'Unix time of the embedded drain’s last successful drain (0 before the first).',
            registers,
          }),
        }
      : undefined;
  const workerFailures =
    worker !== undefined
      ? new Counter({
          name: 'tollgate_drain_failures_total',
          help: 'Drain attempts of the in-process audit worker that failed (each is retried).',
          registers,
        })
      : undefined;
  const workerRepairs =
    worker !== undefined
      ? new Counter({
          name: 'tollgate_drain_repairs_total',
          help: 'Times the in-process audit worker found its Redis state gone (Redis lost its data: job schedulers, outbox groups) and re-created it.',
          registers,
        })
      : undefined;
  const sweepMetrics =
    sweep !== undefined || worker !== undefined
      ? {
          runs: new Counter({
            name: 'tollgate_sweep_runs_total',
            help: 'Runs of the background sweep in this process (the embedded timer, or the in-process worker’s sweep jobs).',
            registers,
          }),
          freed: new Counter({
            name: 'tollgate_sweep_freed_total',
            help: 'Holds the background sweep in this process freed because their lease passed (on agents no call touched).',
            registers,
          }),
        }
      : undefined;

  return {
    hasDrain: drainMetrics !== undefined,
    readDrain() {
      if (drain !== undefined && drainMetrics && embeddedDrainMetrics) {
        const d = drain.stats();
        setCounter(drainMetrics.events, d.drained);
        setCounter(drainMetrics.inserted, d.inserted);
        setCounter(drainMetrics.rejected, d.rejected);
        embeddedDrainMetrics.failing.set(d.failures);
        embeddedDrainMetrics.lastSuccess.set(d.lastSuccessAt === null ? 0 : d.lastSuccessAt / 1000);
      } else if (worker !== undefined && drainMetrics && workerFailures) {
        const w = worker.stats();
        setCounter(drainMetrics.events, w.stored + w.duplicates);
        setCounter(drainMetrics.inserted, w.stored);
        setCounter(drainMetrics.rejected, w.deadLettered);
        setCounter(workerFailures, w.failures);
        if (workerRepairs) setCounter(workerRepairs, w.repairs ?? 0);
      }
    },
    readSweep() {
      if (sweepMetrics === undefined) return;
      if (sweep !== undefined) {
        const s = sweep.stats();
        setCounter(sweepMetrics.runs, s.runs);
        setCounter(sweepMetrics.freed, s.freed);
      } else if (worker !== undefined) {
        const w = worker.stats();
        setCounter(sweepMetrics.runs, w.sweeps ?? 0);
        setCounter(sweepMetrics.freed, w.sweepFreed ?? 0);
      }
    },
  };
}
