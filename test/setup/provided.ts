/**
 * What a test reads with `inject(...)` (import { inject } from 'vitest'), and
 * who provides it (docs/testing.md):
 *
 * - `engineKinds`: vitest.config.ts, per project (unit: memory; integration:
 *   redis and cluster); test/support/engines.ts reads it as ENGINE_KINDS.
 * - `redisUrl`, `clusterNodes`, `databaseUrl`, `pgliteTemplate`: test/setup/global-setup.ts,
 *   the integration project's global setup. The unit project has none of them
 *   (test/setup/unit-guard.ts fails a unit test that asks).
 */
// Brings 'vitest' into the program so the augmentation below always resolves.
import type {} from 'vitest';
import type { EngineKind } from '../support/engines.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The engines the parametrized suites run on in this project. */
    engineKinds: EngineKind[];
    /** `redis://127.0.0.1:<port>` of the run's private standalone Redis. */
    redisUrl: string;
    /** Seed nodes of the run's private 3-master Redis Cluster. */
    clusterNodes: { host: string; port: number }[];
    /** `postgres://postgres@127.0.0.1:5432/tollgate_test_<random>`: the run's fresh database. */
    databaseUrl: string;
    /** A migrated PGlite folder that new PGlite stores are copied from (./pglite-seed.ts). */
    pgliteTemplate: string;
  }
}

/** The keys the integration project's global setup provides: services a unit test must not ask for. */
export const SERVICE_KEYS = ['redisUrl', 'clusterNodes', 'databaseUrl', 'pgliteTemplate'] as const;
