import { TollgateError } from '../../errors.js';

/**
 * The tiny query interface both stores run the same SQL through: `pg` (a Pool)
 * and PGlite each implement it in a few lines, and everything else
 * (migrations.ts, queries.ts, sql-store.ts) is written once against it.
 */
export interface Db {
  /**
   * One statement with `$n` parameters (extended protocol). `name` prepares
   * it once per connection where the driver can (pg); others ignore it.
   */
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    name?: string,
  ): Promise<R[]>;
  /**
   * One statement with `$n` parameters that returns no rows (an INSERT);
   * resolves to the number of rows it affected. `name` as for query().
   */
  command(text: string, params?: readonly unknown[], name?: string): Promise<number>;
  /** A script of several statements, no parameters (simple protocol): migrations. */
  exec(text: string): Promise<void>;
  /** Runs `fn` in BEGIN … COMMIT on one connection (ROLLBACK if it throws). No nesting. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * An array parameter whose element type is known (the statement casts it:
 * `$n::<elementType>[]`). The pg Db sends it in PostgreSQL's binary array
 * format (pg-binary.ts) when it can; PGlite gets the plain values.
 */
export class SqlArray {
  constructor(
    readonly elementType: string,
    readonly values: readonly unknown[],
  ) {}
}

/** Connection-level failures of the database: the store is down, not the request bad. */
const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

/**
 * A statement the database canceled at the statement timeout its Db sets
 * (SQLSTATE 57014 query_canceled; PostgresStore's read and recovery pools):
 * STORE_UNAVAILABLE (HTTP 503), with the timeout it ran into.
 */
export class StatementTimeoutError extends TollgateError {
  constructor(
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super(
      'STORE_UNAVAILABLE',
      `The audit store canceled the read at its statement timeout (${timeoutMs} ms)`,
      { store: 'read timeout', timeout_ms: timeoutMs },
    );
    this.name = 'StatementTimeoutError';
    (this as { cause?: unknown }).cause = cause;
  }
}

/**
 * Maps a driver error that means "the database is unreachable" (network
 * errors, SQLSTATE class 08 connection exceptions, 57P01-57P03 shutdown /
 * cannot connect now, a terminated connection) to STORE_UNAVAILABLE; returns
 * any other error unchanged. A statement canceled (57014) is STORE_UNAVAILABLE
 * too: a StatementTimeoutError when the Db sets a statement timeout
 * (`statementTimeoutMs`), else (an operator's pg_cancel_backend) the plain one.
 */
export function mapDbError(e: unknown, statementTimeoutMs?: number): unknown {
  if (!(e instanceof Error) || e instanceof TollgateError) return e;
  const code = (e as { code?: unknown }).code;
  if (code === '57014' && statementTimeoutMs !== undefined && statementTimeoutMs > 0) {
    return new StatementTimeoutError(statementTimeoutMs, e);
  }
  const unavailable =
    (typeof code === 'string' &&
      (NET_CODES.has(code) ||
        code.startsWith('08') ||
        code === '57014' ||
        /^57P0[123]$/.test(code))) ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(
      e.message,
    );
  if (!unavailable) return e;
  const err = new TollgateError('STORE_UNAVAILABLE', `Audit store unavailable: ${e.message}`);
  (err as { cause?: unknown }).cause = e;
  return err;
}
