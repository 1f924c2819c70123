import { isTollgateError, TollgateError } from '../../errors.js';

/**
 * Redis failures become typed errors: a reply error from a script is a bug of
 * ours (INTERNAL); anything else (connection refused, timeout, cluster down)
 * means the store is unavailable, and the caller fails closed.
 */
export function storeErrors<T>(p: Promise<T>): Promise<T> {
  return p.catch(toStoreError);
}

function toStoreError(e: unknown): never {
  if (isTollgateError(e)) throw e;
  const err = e as Error;
  if (err?.name === 'ReplyError' && !/CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN/.test(err.message)) {
    throw new TollgateError('INTERNAL', `Redis script error: ${err.message}`);
  }
  throw new TollgateError('STORE_UNAVAILABLE', 'The store (Redis) is unavailable', {
    cause: err?.message ?? String(e),
  });
}
