/**
 * The integration project's setup file (vitest.config.ts): new PGlite folders
 * start from the run's template (./pglite-seed.ts); the processes a test
 * spawns find it in their environment.
 */
import { inject } from 'vitest';
import { seedPGliteFrom, TEMPLATE_ENV } from './pglite-seed.js';

const template = inject('pgliteTemplate');
process.env[TEMPLATE_ENV] = template;
seedPGliteFrom(template);
