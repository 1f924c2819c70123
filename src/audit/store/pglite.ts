import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { type Db, mapDbError, SqlArray } from './db.js';
import { migrated, SqlStore } from './sql-store.js';

export const DEFAULT_PGLITE_DIR = './.tollgate/pglite';

export interface PGliteStoreOptions {
  /** The data folder (created if missing). Default ./.tollgate/pglite. */
  dataDir?: string;
}

type Queryable = PGlite | Transaction;

async function send<R>(c: Queryable, text: string, params?: readonly unknown[]) {
  try {
    const values = params?.map((p) => (p instanceof SqlArray ? p.values : p));
    return await c.query<R>(text, values);
  } catch (e) {
    throw mapDbError(e);
  }
}

async function run<R>(c: Queryable, text: string, params?: readonly unknown[]): Promise<R[]> {
  return (await send<R>(c, text, params)).rows;
}

async function command(c: Queryable, text: string, params?: readonly unknown[]): Promise<number> {
  return (await send(c, text, params)).affectedRows ?? 0;
}

/** Db over one PGlite instance (one connection: its transaction() holds it exclusively). */
export function pgliteDb(pg: PGlite): Db {
  const txDb = (tx: Transaction): Db => ({
    query: (text, params) => run(tx, text, params),
    command: (text, params) => command(tx, text, params),
    exec: async (text) => {
      await tx.exec(text);
    },
    transaction: () => Promise.reject(new Error('Nested transactions are not supported')),
    close: () => Promise.resolve(),
  });
  return {
    query: (text, params) => run(pg, text, params),
    command: (text, params) => command(pg, text, params),
    exec: async (text) => {
      await pg.exec(text);
    },
    transaction: (fn) => pg.transaction((tx) => fn(txDb(tx))),
    close: () => pg.close(),
  };
}

/** The durable store embedded: PGlite (PostgreSQL in WASM) persisted to a data folder. */
export class PGliteStore extends SqlStore {
  private constructor(readonly pg: PGlite) {
    super('pglite', pgliteDb(pg));
  }

  /** Opens (or creates) the data folder and applies the migrations. */
  static async open(opts: PGliteStoreOptions = {}): Promise<PGliteStore> {
    const dataDir = opts.dataDir ?? DEFAULT_PGLITE_DIR;
    await mkdir(dataDir, { recursive: true });
    const pg = await PGlite.create(dataDir).catch(async (e: unknown) => {
      // A folder of another PostgreSQL major does not open (docs/embedded.md#where-the-data-lives).
      const major = (await readFile(join(dataDir, 'PG_VERSION'), 'utf8').catch(() => '')).trim();
      if (major === '') throw e;
      throw new Error(
        `PGlite cannot open ${dataDir}, a PostgreSQL ${major} data folder (written by another PGlite release?): ${(e as Error).message}`,
        { cause: e },
      );
    });
    return migrated(new PGliteStore(pg));
  }
}
