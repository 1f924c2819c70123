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
  /** Connections for writes (insertEvents, migrations). Default 10. */
  max?: number;
  /** How long to wait for a connection before STORE_UNAVAILABLE. Default 5 s. */
  connectionTimeoutMillis?: number;
  /**
   * Statement timeout of the reads the API serves (queryEvents,
   * sessionSummaries, spendByHour), ms: a read running longer is canceled by
   * the server and rejects with StatementTimeoutError (STORE_UNAVAILABLE).
   * Default 5 000; 0: none.
   */
  readTimeoutMs?: number;
  /** Connections for those reads (a pool of their own). Default 5. */
  readMax?: number;
  /**
   * Connections for recovery's reads (agents, totals: the RecoverySource and
   * the embedded restore), a pool of their own so that no other read can take
   * them. Default 2.
   */
  recoveryMax?: number;
  /** Statement timeout of recovery's reads, ms. Default 60 000; 0: none. */
  recoveryTimeoutMs?: number;
}

export const DEFAULT_READ_TIMEOUT_MS = 5_000;
export const DEFAULT_READ_MAX = 5;
export const DEFAULT_RECOVERY_MAX = 2;
export const DEFAULT_RECOVERY_TIMEOUT_MS = 60_000;

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

/** How a Db turns a driver error into its own (mapDbError, with the Db's statement timeout). */
type MapError = (e: unknown) => unknown;

async function send(
  c: Queryable,
  map: MapError,
  text: string,
  params?: readonly unknown[],
  name?: string,
): Promise<pg.QueryResult> {
  try {
    const values = encode(params);
    return await c.query(name === undefined ? { text, values } : { name, text, values });
  } catch (e) {
    throw map(e);
  }
}

/** Db over one connection (or a Pool: each statement on any of its connections). */
function queryableDb(c: Queryable, map: MapError): Omit<Db, 'transaction' | 'close'> {
  return {
    query: async (text, params, name) => (await send(c, map, text, params, name)).rows,
    command: async (text, params, name) => (await send(c, map, text, params, name)).rowCount ?? 0,
    exec: async (text) => {
      await send(c, map, text);
    },
  };
}

export interface PoolDbOptions {
  /** The statement timeout the pool's connections set (ms): its 57014 becomes StatementTimeoutError. */
  statementTimeoutMs?: number;
}

/** Db over a pg Pool. */
export function poolDb(pool: pg.Pool, opts: PoolDbOptions = {}): Db {
  const map: MapError = (e) => mapDbError(e, opts.statementTimeoutMs);
  return {
    ...queryableDb(pool, map),
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw map(e);
      }
      let broken = false;
      const tx = queryableDb(client, map);
      try {
        await tx.exec('BEGIN');
        const out = await fn({
          ...tx,
          transaction: () => Promise.reject(new Error('Nested transactions are not supported')),
          close: () => Promise.resolve(),
        });
        await tx.exec('COMMIT');
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

function checkMillis(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > 2_147_483_647) {
    throw new Error(`Bad ${what} ${v}: expected milliseconds, 0 for none`);
  }
  return v;
}

/**
 * The durable store on PostgreSQL (DATABASE_URL set), through three pg Pools,
 * each opening connections only when used: writes (`pool`: inserts and
 * migrations, no statement timeout: building an index may take long), the
 * API's reads (`readPool`, `statement_timeout` set on its connections), and
 * recovery's reads (`recoveryPool`, 2 connections): however many audit reads
 * are in flight, or stuck, recovery finds its connections free.
 */
export class PostgresStore extends SqlStore {
  readonly pool: pg.Pool;
  readonly readPool: pg.Pool;
  readonly recoveryPool: pg.Pool;
  /** The reads' statement timeout, ms (0: none). */
  readonly readTimeoutMs: number;

  constructor(opts: PostgresStoreOptions) {
    const schema = opts.schema === undefined ? undefined : checkSchemaName(opts.schema);
    const readTimeoutMs = checkMillis(
      opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
      'read timeout',
    );
    const recoveryTimeoutMs = checkMillis(
      opts.recoveryTimeoutMs ?? DEFAULT_RECOVERY_TIMEOUT_MS,
      'recovery timeout',
    );
    const open = (max: number, statementTimeoutMs: number, more: string[] = []) => {
      const settings = [
        ...(schema === undefined ? [] : [`-c search_path=${schema}`]),
        ...(statementTimeoutMs > 0 ? [`-c statement_timeout=${statementTimeoutMs}`] : []),
        ...more,
      ];
      const pool = new pg.Pool({
        connectionString: opts.databaseUrl,
        max,
        connectionTimeoutMillis: opts.connectionTimeoutMillis ?? 5000,
        ...(settings.length > 0 ? { options: settings.join(' ') } : {}),
      });
      // An idle connection that dies (server restart) must not crash the
      // process: the next query gets a fresh connection or STORE_UNAVAILABLE.
      pool.on('error', () => {});
      return pool;
    };
    const pool = open(opts.max ?? 10, 0);
    // The API's reads are pages: each is an ordered index range scan cut at
    // the page size (queries.ts, eventsQuery). A bitmap scan reads every match
    // before sorting them, which the planner picks when it underestimates the
    // matches (a kind it cannot know in advance, LATERAL): not on these reads.
    const readPool = open(opts.readMax ?? DEFAULT_READ_MAX, readTimeoutMs, [
      '-c enable_bitmapscan=off',
    ]);
    const recoveryPool = open(opts.recoveryMax ?? DEFAULT_RECOVERY_MAX, recoveryTimeoutMs);
    const timeout = (ms: number) => (ms > 0 ? { statementTimeoutMs: ms } : {});
    super(
      'postgres',
      {
        db: poolDb(pool),
        reads: poolDb(readPool, timeout(readTimeoutMs)),
        recovery: poolDb(recoveryPool, timeout(recoveryTimeoutMs)),
      },
      schema,
    );
    this.pool = pool;
    this.readPool = readPool;
    this.recoveryPool = recoveryPool;
    this.readTimeoutMs = readTimeoutMs;
  }

  /** Connects and applies the migrations. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    return migrated(new PostgresStore(opts));
  }
}
