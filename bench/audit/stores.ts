/**
 * A fresh, empty store per run: PostgreSQL in a schema of its own inside the
 * bench database, or PGlite in a temporary data folder (removed on close).
 * Opened with the library's createStore, so the migrations and the insert
 * are exactly what the worker uses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import { PGliteStore } from '../../src/audit/store/pglite.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';

export type StoreKind = 'postgres' | 'pglite';

export interface BenchStore {
  kind: StoreKind;
  store: AuditStore;
  /** Rows in audit_events, and distinct event ids among them. */
  count(): Promise<{ rows: number; distinct: number }>;
  close(): Promise<void>;
}

const COUNT =
  'SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct FROM audit_events';

export async function openStore(
  kind: StoreKind,
  databaseUrl: string,
  schema: string,
): Promise<BenchStore> {
  if (kind === 'postgres') {
    const store = (await createStore({ databaseUrl, schema })) as PostgresStore;
    return {
      kind,
      store,
      async count() {
        const r = (await store.pool.query(COUNT)).rows[0];
        return { rows: Number(r?.rows), distinct: Number(r?.distinct) };
      },
      close: () => store.close(),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-pglite-'));
  let store: AuditStore;
  try {
    store = await createStore({ dataDir: dir });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  if (!(store instanceof PGliteStore)) throw new Error('createStore({ dataDir }) is not PGlite');
  const pglite = store;
  return {
    kind,
    store,
    async count() {
      const r = (await pglite.pg.query<{ rows: number; distinct: number }>(COUNT)).rows[0];
      return { rows: Number(r?.rows), distinct: Number(r?.distinct) };
    },
    async close() {
      try {
        await pglite.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
