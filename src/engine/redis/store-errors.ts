import { isTollgateError, TollgateError } from '../../errors.js';

/**
 * Reply errors that mean "the store cannot answer this now, ask again":
 * a Cluster slot that moved or is moving (MOVED, ASK), a cluster that is
 * down or reconfiguring (CLUSTERDOWN, TRYAGAIN, MASTERDOWN), a node that is
 * loading its data or became a replica (LOADING, READONLY), a script cache
 * emptied by a restart (NOSCRIPT), too few replicas for a write (NOREPLICAS).
 * Every Tollgate operation is safe to repeat with the same ids, so a caller
 * (the library itself, docs/recovery.md) may retry them.
 */
const RETRYABLE =
  /^(MOVED|ASK|NOSCRIPT|CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|NOREPLICAS)\b/;

/** Whether a Redis error is a failover's reply (see RETRYABLE). */
export function isFailoverReply(e: unknown): boolean {
  const err = e as Error;
  return err?.name === 'ReplyError' && RETRYABLE.test(err.message ?? '');
}

/** Whether a Redis error is one a caller may retry (see RETRYABLE); any non-reply error is. */
export function isRetryableStoreError(e: unknown): boolean {
  const err = e as Error;
  return err?.name !== 'ReplyError' || RETRYABLE.test(err.message ?? '');
}

/**
 * Redis failures become typed errors: a reply error from a script that is not
 * a failover's is a bug of ours (INTERNAL); a failover's reply error, a
 * connection refused or cut, a timeout means the store is unavailable
 * (STORE_UNAVAILABLE, 503, retryable, the cause in `details`), and the caller
 * fails closed.
 */
export function storeErrors<T>(p: Promise<T>): Promise<T> {
  return p.catch(toStoreError);
}

export function toStoreError(e: unknown): never {
  if (isTollgateError(e)) throw e;
  const err = e as Error;
  if (!isRetryableStoreError(err)) {
    throw new TollgateError('INTERNAL', `Redis script error: ${err.message}`);
  }
  throw new TollgateError('STORE_UNAVAILABLE', 'The store (Redis) is unavailable', {
    cause: err?.message ?? String(e),
  });
}
