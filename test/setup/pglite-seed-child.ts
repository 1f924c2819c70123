/**
 * Preloaded (`node --import`) by the `serve` processes the tests spawn
 * (test/support/serve-process.ts): new PGlite folders start from the run's
 * template (./pglite-seed.ts) when the environment names one.
 */
import { seedPGliteFrom, TEMPLATE_ENV } from './pglite-seed.js';

const template = process.env[TEMPLATE_ENV];
if (template !== undefined && template !== '') seedPGliteFrom(template);
