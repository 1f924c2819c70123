import { configDefaults, defineConfig } from 'vitest/config';
import { SlowFirstSequencer } from './test/setup/slow-first.js';

const ci = Boolean(process.env.CI);

/**
 * Test files that need nothing installed and take seconds: no Redis, no
 * PostgreSQL, no PGlite database (starting one costs seconds of CPU), no
 * browser, no child process. They run in the unit project only; every other
 * file runs in the integration project. docs/testing.md, "Two projects".
 */
const UNIT_ONLY = [
  'test/policy/*.test.ts',
  'test/models/*.test.ts',
  'test/models-wire/*.test.ts',
  'test/engine/memory-unit.test.ts',
  'test/engine/memory-res-index.test.ts',
  'test/engine/outbox-format.test.ts',
  'test/engine/store-errors.test.ts',
  'test/engine/periods.test.ts',
  'test/api/config.test.ts',
  'test/audit/embedded-outbox.test.ts',
];

/**
 * Suites parametrized over ENGINE_KINDS (test/support/engines.ts): they run in
 * both projects, on the engines each project provides, so each kind runs once.
 */
const PER_ENGINE = [
  'test/engine/batch.test.ts',
  'test/engine/conformance.test.ts',
  'test/engine/no-overspend.test.ts',
  'test/engine/priced.test.ts',
  'test/engine/rate-limits.test.ts',
  'test/engine/periods-engine.test.ts',
  'test/engine/pools*.test.ts',
  'test/guard/model-call.test.ts',
  'test/engine/model-settle.test.ts',
  'test/engine/replays.test.ts',
  'test/engine/shadow.test.ts',
  'test/engine/settle-sent.test.ts',
  'test/audit/event.test.ts',
  'test/audit/event-fast.test.ts',
  'test/meter/*.test.ts',
  'test/alerts/pools.test.ts',
];

export default defineConfig({
  test: {
    pool: 'forks',
    // Both projects share one pool of three workers on the 2-core CI machine
    // (the files wait on child processes, servers and faults as much as they
    // compute), and a worker keeps its module cache from one file to the next
    // (no isolation: ARCHITECTURE.md, rule "No state in modules"). docs/testing.md
    // "Two projects"; docs/decisions.md has the figures.
    maxWorkers: 3,
    isolate: false,
    // The long files first (test/setup/slow-first.ts).
    sequence: { sequencer: SlowFirstSequencer },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CI: keep the console output and also write a machine-readable report
    // (both projects in one file) that .ci/run summarises.
    reporters: ci ? ['default', 'json'] : ['default'],
    outputFile: ci ? { json: 'reports/vitest.json' } : undefined,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [...UNIT_ONLY, ...PER_ENGINE],
          provide: { engineKinds: ['memory'] },
          // Starts nothing; a test that asks for a service fails at once.
          setupFiles: ['test/setup/unit-guard.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT_ONLY],
          provide: { engineKinds: ['redis', 'cluster'] },
          // One private Redis, one private 3-node Cluster and a fresh
          // PostgreSQL database for the whole run (never the shared ones).
          globalSetup: ['test/setup/global-setup.ts'],
          // New PGlite folders start from a migrated template (test/setup/pglite-seed.ts).
          setupFiles: ['test/setup/pglite-seed-worker.ts'],
        },
      },
    ],
  },
});
