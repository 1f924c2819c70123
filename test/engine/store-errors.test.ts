/**
 * Every failover error is retryable and says so: STORE_UNAVAILABLE (503) with
 * the cause in details, never INTERNAL; a script's own error stays INTERNAL.
 */
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isRetryableStoreError, storeErrors } from '../../src/engine/redis/store-errors.js';
import { TollgateError } from '../../src/errors.js';

async function mapped(e: Error): Promise<TollgateError> {
  try {
    await storeErrors(Promise.reject(e));
  } catch (err) {
    return err as TollgateError;
  }
  throw new Error('not rejected');
}

const FAILOVER_REPLIES = [
  'MOVED 3999 127.0.0.1:6381',
  'ASK 3999 127.0.0.1:6381',
  'NOSCRIPT No matching script. Please use EVAL.',
  'CLUSTERDOWN The cluster is down',
  'TRYAGAIN Multiple keys request during rehashing of slot',
  'LOADING Redis is loading the dataset in memory',
  'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
  "READONLY You can't write against a read only replica.",
  'NOREPLICAS Not enough good replicas to write.',
];

describe('store errors', () => {
  it.each(FAILOVER_REPLIES)('%s → STORE_UNAVAILABLE with its cause', async (message) => {
    const e = await mapped(new ReplyError(message));
    expect(e).toMatchObject({ code: 'STORE_UNAVAILABLE', details: { cause: message } });
    expect(isRetryableStoreError(new ReplyError(message))).toBe(true);
  });

  it.each([
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    ],
    ['a command timeout', new Error('Command timed out')],
    ['a cut connection', new Error('Connection is closed.')],
    [
      'no offline queue',
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    ],
  ])('%s → STORE_UNAVAILABLE', async (_what, err) => {
    const e = await mapped(err);
    expect(e).toMatchObject({ code: 'STORE_UNAVAILABLE', details: { cause: err.message } });
  });

  it("a script's own error is INTERNAL (a bug), not retried", async () => {
    const err = new ReplyError('ERR user_script:12: attempt to index a nil value');
    expect(await mapped(err)).toMatchObject({ code: 'INTERNAL' });
    expect(isRetryableStoreError(err)).toBe(false);
  });

  it('a typed error passes through', async () => {
    const t = new TollgateError('NOT_FOUND', 'x');
    expect(await mapped(t)).toBe(t);
  });
});
