import pg from 'pg';
import { type Db, mapDbError, SqlArray } from './db.js';
import { checkSchemaName } from './migrations.js';
import { encodeBinaryArray, isBinaryElementType } from './pg-binary.js';
import { migrated, SqlStore } from './sql-store.js';

export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:port/db` (DATABASE_URL). */
  databaseUrl: string;
  /**
   * A schema to keep the tables in (created by migrate(); the connections'
   * search_path is set to it). Default: the server's search_path (public).
   * The tests give each suite its own.
   */
  schema?: string;
  /** Pool size. Default 10. */
  max?: number;
  /** How long to wait for a connection before STORE_UNAVAILABLE. Default 5 s. */
  connectionTimeoutMillis?: number;
}

type Queryable = pg.Pool | pg.PoolClient;

const ESCAPE = /[\\"]/g;

/**
 * A flat array of primitives as a PostgreSQL array literal: what pg would send
 * for it, built in one pass (numbers and booleans unquoted, text quoted and
 * escaped). insertEvents sends 26 arrays of 1,000 per batch, and pg's generic
 * conversion was a fifth of the batch's time. Anything else is left to pg.
 */
export function arrayLiteral(a: readonly unknown[]): string | readonly unknown[] {
  let out = '{';
  for (let i = 0; i < a.length; i++) {
    if (i > 0) out += ',';
    const v = a[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += String(v);
    else if (typeof v === 'boolean') out += v ? 't' : 'f';
    else if (typeof v === 'string') out += `"${v.replace(ESCAPE, '\\$&')}"`;
    else return a;
  }
  return `${out}}`;
}

/** A typed array in binary (or, if a value does not fit its type, as a literal: the server judges it). */
function encodeArray(p: SqlArray): unknown {
  const t = p.elementType;
  return (
    (isBinaryElementType(t) ? encodeBinaryArray(t, p.values) : undefined) ?? arrayLiteral(p.values)
  );
}

function encode(params: readonly unknown[] | undefined): unknown[] | undefined {
  return params?.map((p) =>
    p instanceof SqlArray ? encodeArray(p) : Array.isArray(p) ? arrayLiteral(p) : p,
  );
}

async function send(
  c: Queryable,
  text: string,
  params?: readonly unknown[],
  name?: string,
): Promise<pg.QueryResult> {
  try {
    const values = encode(params);
    return await c.query(name === undefined ? { text, values } : { name, text, values });
  } catch (e) {
    throw mapDbError(e);
  }
}

async function run<R>(
  c: Queryable,
  text: string,
  params?: readonly unknown[],
  name?: string,
): Promise<R[]> {
  return (await send(c, text, params, name)).rows as R[];
}

async function command(
  c: Queryable,
  text: string,
  params?: readonly unknown[],
  name?: string,
): Promise<number> {
  return (await send(c, text, params, name)).rowCount ?? 0;
}

function clientDb(c: pg.PoolClient): Db {
  return {
    query: (text, params, name) => run(c, text, params, name),
    command: (text, params, name) => command(c, text, params, name),
    exec: async (text) => {
      await run(c, text);
    },
    transaction: () => Promise.reject(new Error('Nested transactions are not supported')),
    close: () => Promise.resolve(),
  };
}

/** Db over a pg Pool. */
export function poolDb(pool: pg.Pool): Db {
  return {
    query: (text, params, name) => run(pool, text, params, name),
    command: (text, params, name) => command(pool, text, params, name),
    exec: async (text) => {
      await run(pool, text);
    },
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw mapDbError(e);
      }
      let broken = false;
      try {
        await run(client, 'BEGIN');
        const out = await fn(clientDb(client));
        await run(client, 'COMMIT');
        return out;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw e;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** The durable store on PostgreSQL through a pg Pool (DATABASE_URL set). */
export class PostgresStore extends SqlStore {
  readonly pool: pg.Pool;

  constructor(opts: PostgresStoreOptions) {
    const schema = opts.schema === undefined ? undefined : checkSchemaName(opts.schema);
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.max ?? 10,
      connectionTimeoutMillis: opts.connectionTimeoutMillis ?? 5000,
      ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    });
    // An idle connection that dies (server restart) must not crash the
    // process: the next query gets a fresh connection or STORE_UNAVAILABLE.
    pool.on('error', () => {});
    super('postgres', poolDb(pool), schema);
    this.pool = pool;
  }

  /** Connects and applies the migrations. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    return migrated(new PostgresStore(opts));
  }
}
