/**
 * Test speed only (docs/testing.md, "PGlite's template"): a PGlite data folder
 * opened for the first time starts as a copy of one template folder, created
 * and migrated once per run by the global setup, instead of running initdb
 * and every migration again (seconds of CPU per store on the CI machine). The
 * copy is what `PGliteStore.open` would have made there: a real PGlite folder
 * at the latest migration; a folder that exists and is not empty is opened as
 * it is. Installed in every integration worker (./pglite-seed-worker.ts) and in
 * the `serve` processes the tests spawn (./pglite-seed-child.ts, which finds
 * the template through TEMPLATE_ENV).
 */
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { DEFAULT_PGLITE_DIR, PGliteStore } from '../../src/audit/store/pglite.js';

/** The template folder's path, for the processes a test spawns. */
export const TEMPLATE_ENV = 'TOLLGATE_TEST_PGLITE_TEMPLATE';

/** Marks the seeding `open`, so that a worker that runs the setup file again (no isolation) keeps one. */
const SEEDING = Symbol.for('tollgate.test.pgliteSeed');

/** Makes `PGliteStore.open` seed a new folder from `template` (once per module instance). */
export function seedPGliteFrom(template: string): void {
  if ((PGliteStore.open as { [SEEDING]?: true })[SEEDING]) return;
  const open = PGliteStore.open.bind(PGliteStore);
  PGliteStore.open = Object.assign(
    (opts: Parameters<typeof open>[0] = {}) => {
      const dir = opts.dataDir ?? DEFAULT_PGLITE_DIR;
      if (!existsSync(dir) || readdirSync(dir).length === 0) {
        cpSync(template, dir, { recursive: true });
      }
      return open(opts);
    },
    { [SEEDING]: true as const },
  );
}
