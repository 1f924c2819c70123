/**
 * The run's file order (vitest.config.ts `sequence.sequencer`): the files
 * that take tens of seconds start first, so that none of them starts last and
 * becomes the run's tail while the other worker idles; the rest follow in
 * vitest's own order (the integration project first, then by cached duration,
 * else by size). docs/testing.md, "Two projects".
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files seen taking 17 s or more on the 2-core CI machine (busy), longest
 * first; a stale entry only changes the order. .ci/run prints the slowest
 * files of a run, and reports/vitest.json has them all.
 */
export const SLOW_FILES = [
  'test/audit/worker-outage.test.ts',
  'test/cli/data-folder.test.ts',
  'test/audit/worker.test.ts',
  'test/audit/store.test.ts',
  'test/api/hostile.test.ts',
  'test/setup/package.test.ts',
  'test/dashboard/browser.test.ts',
  'test/alerts/redis.test.ts',
  'test/alerts/embedded.test.ts',
  'test/audit/drain.test.ts',
  'test/audit/drain-heal.test.ts',
  'test/api/audit.test.ts',
  'test/cli/serve.test.ts',
  'test/engine/failover.test.ts',
  'test/api/forged-keys.test.ts',
  'test/engine/failover-restart.test.ts',
  'test/audit/sweep.test.ts',
  'test/cli/folder-lock.test.ts',
  'test/api/slow-clients.test.ts',
  'test/audit/store-overrun.test.ts',
  'test/api/bola.test.ts',
  'test/api/metrics.test.ts',
  'test/audit/event-fast.test.ts',
  'test/audit/recovery.test.ts',
  'test/audit/embedded.test.ts',
  'test/cli/audit.test.ts',
  'test/audit/store-reads.test.ts',
  'test/api/multi-process.test.ts',
  'test/dashboard/actions.test.ts',
  'test/api/pools-processes.test.ts',
  'test/api/policy-runtime.test.ts',
  'test/engine/no-overspend.test.ts',
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const i = SLOW_FILES.findIndex((file) => spec.moduleId.endsWith(`/${file}`));
      return i < 0 ? SLOW_FILES.length : i;
    };
    return sorted
      .map((spec, order) => ({ spec, order, rank: rank(spec) }))
      .sort((a, b) => a.rank - b.rank || a.order - b.order)
      .map(({ spec }) => spec);
  }
}
