import { defineConfig } from 'vitest/config';

const ci = Boolean(process.env.CI);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts one private Redis and one private 3-node Cluster for the run
    // (never the shared instances): see docs/testing.md.
    globalSetup: ['test/setup/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CI: keep the console output and also write a machine-readable report
    // that .ci/run summarises.
    reporters: ci ? ['default', 'json'] : ['default'],
    outputFile: ci ? { json: 'reports/vitest.json' } : undefined,
  },
});
