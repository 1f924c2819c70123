import { lazyStore } from '../api/lazy-store.js';
import { type AuditStore, createStore } from '../audit/store/index.js';
import type { Config } from '../config/index.js';
import { storeOptions } from './commands/worker.js';

/**
 * The store `tollgate serve` reads the audit ledger from (GET /v1/audit) in
 * Redis and Cluster mode, where the worker writes it. (Embedded mode: the
 * store tollgateOptions gives, which the in-process drain writes.)
 *
 *  - DATABASE_URL: PostgreSQL, opened on the first read, so the gate starts
 *    and keeps deciding while PostgreSQL is down.
 *  - no DATABASE_URL, `--with-worker`: the PGlite the in-process worker
 *    writes, one instance shared by both (PGlite admits one process).
 *  - no DATABASE_URL, no in-process worker: none (the PGlite folder belongs
 *    to the `tollgate worker` process); GET /v1/audit answers 503
 *    STORE_UNAVAILABLE `{store: "not configured"}`.
 *
 * The caller closes it (after the worker and the Tollgate).
 */
export function auditReadStore(
  config: Config,
  withWorker: boolean,
): { store: AuditStore; sharedWithWorker: boolean } | undefined {
  if (config.mode === 'embedded') return undefined;
  if (config.databaseUrl === undefined && !withWorker) return undefined;
  const store = lazyStore({
    kind: config.databaseUrl !== undefined ? 'postgres' : 'pglite',
    open: () => createStore(storeOptions(config)),
  });
  return { store, sharedWithWorker: config.databaseUrl === undefined };
}
