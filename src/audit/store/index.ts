import type { AuditStore } from './types.js';

export { type Db, StatementTimeoutError } from './db.js';
export { MIGRATIONS, type Migration, migrate } from './migrations.js';
export { POLICY_STORE_METHODS, policyVersionStore } from './policies.js';
export { decodeCursor, encodeCursor, MAX_PAGE } from './queries.js';
export { SqlStore } from './sql-store.js';
export type * from './types.js';
export { WEBHOOK_STORE_METHODS, webhookStore } from './webhooks.js';

export interface StoreOptions {
  /** PostgreSQL (DATABASE_URL). When set, the store is PostgresStore. */
  databaseUrl?: string;
  /** PGlite's data folder when there is no databaseUrl. Default ./.tollgate/pglite. */
  dataDir?: string;
  /** PostgreSQL only: keep the tables in this schema (tests). */
  schema?: string;
  /**
   * PostgreSQL only: the statement timeout of the API's reads (GET /v1/audit,
   * the dashboard's spend), ms; default 5 000, 0: none. PGlite runs in
   * process and cannot cancel a statement: no timeout applies there.
   */
  readTimeoutMs?: number;
}

/**
 * Opens the durable store and applies the migrations: PostgreSQL through pg
 * when a database URL is given, otherwise PGlite in `dataDir`. Each driver is
 * loaded only when chosen (PGlite's WASM is not loaded for PostgreSQL).
 */
export async function createStore(opts: StoreOptions = {}): Promise<AuditStore> {
  if (opts.databaseUrl !== undefined && opts.databaseUrl !== '') {
    const { PostgresStore } = await import('./postgres.js');
    return PostgresStore.open({
      databaseUrl: opts.databaseUrl,
      ...(opts.schema === undefined ? {} : { schema: opts.schema }),
      ...(opts.readTimeoutMs === undefined ? {} : { readTimeoutMs: opts.readTimeoutMs }),
    });
  }
  const { PGliteStore } = await import('./pglite.js');
  return PGliteStore.open(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir });
}

export type { PGliteStore, PGliteStoreOptions } from './pglite.js';
// The drivers' classes, as types (import './postgres.js' or './pglite.js' to
// construct one directly; createStore loads them on demand).
export type { PostgresStore, PostgresStoreOptions } from './postgres.js';
