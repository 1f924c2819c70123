import { POLICY_STORE_METHODS } from '../audit/store/policies.js';
import type { AuditStore, PolicyVersionStore, WebhookStore } from '../audit/store/types.js';
import { WEBHOOK_STORE_METHODS } from '../audit/store/webhooks.js';
import { TollgateError } from '../errors.js';

export interface LazyStoreOptions {
  /** What the store will be (known before it opens). */
  kind: AuditStore['kind'];
  /** Opens (and migrates) the store: e.g. `() => createStore({ databaseUrl })`. */
  open: () => Promise<AuditStore>;
  /** After a failed open, calls fail at once with that error for this long, then try again. Default 1 000 ms. */
  retryAfterMs?: number;
}

/**
 * An AuditStore that opens on first use, for reading the ledger from an API
 * process in Redis mode: there the gate decides on Redis alone and must start
 * and keep deciding while PostgreSQL is down, so the store is not opened at
 * startup. A call while it cannot be opened rejects (GET /v1/audit: 503); a
 * later call tries again. Concurrent first calls share one open. close()
 * closes it if it was opened; calls after close() reject.
 */
export function lazyStore(opts: LazyStoreOptions): AuditStore {
  const retryAfterMs = opts.retryAfterMs ?? 1_000;
  let store: AuditStore | undefined;
  let opening: Promise<AuditStore> | undefined;
  let failed: { at: number; error: unknown } | undefined;
  let closed = false;

  const get = (): Promise<AuditStore> => {
    if (closed) {
      return Promise.reject(new TollgateError('STORE_UNAVAILABLE', 'The audit store is closed'));
    }
    if (store !== undefined) return Promise.resolve(store);
    if (opening !== undefined) return opening;
    if (failed !== undefined && Date.now() - failed.at < retryAfterMs) {
      return Promise.reject(failed.error);
    }
    const p = opts.open().then(
      async (s) => {
        if (closed) {
          await s.close().catch(() => undefined);
          throw new TollgateError('STORE_UNAVAILABLE', 'The audit store is closed');
        }
        store = s;
        failed = undefined;
        return s;
      },
      (e: unknown) => {
        failed = { at: Date.now(), error: e };
        throw e;
      },
    );
    opening = p;
    const clear = () => {
      if (opening === p) opening = undefined;
    };
    p.then(clear, clear);
    return p;
  };

  // Each webhook method opens the store first, as the others do.
  const webhooks = Object.fromEntries(
    WEBHOOK_STORE_METHODS.map((m) => [
      m,
      (...args: unknown[]) =>
        get().then((s) => {
          if (s.webhooks === undefined) {
            throw new TollgateError('STORE_UNAVAILABLE', 'This audit store keeps no webhooks');
          }
          return (s.webhooks[m] as (...a: unknown[]) => Promise<unknown>)(...args);
        }),
    ]),
  ) as unknown as WebhookStore;

  // The policy's versions (src/policy-store polls them): opened first the same way.
  const policies = Object.fromEntries(
    POLICY_STORE_METHODS.map((m) => [
      m,
      (...args: unknown[]) =>
        get().then((s) => {
          if (s.policies === undefined) {
            throw new TollgateError('STORE_UNAVAILABLE', 'This audit store keeps no policy');
          }
          return (s.policies[m] as (...a: unknown[]) => Promise<unknown>)(...args);
        }),
    ]),
  ) as unknown as PolicyVersionStore;

  return {
    kind: opts.kind,
    webhooks,
    policies,
    migrate: () => get().then((s) => s.migrate()),
    insertEvents: (events) => get().then((s) => s.insertEvents(events)),
    queryEvents: (filter) => get().then((s) => s.queryEvents(filter)),
    agents: () => get().then((s) => s.agents()),
    totals: (atMs, zones) => get().then((s) => s.totals(atMs, zones)),
    pools: (atMs) => get().then((s) => (s.pools === undefined ? [] : s.pools(atMs))),
    sessionSummaries: (agentId) => get().then((s) => s.sessionSummaries(agentId)),
    spendByHour: (dayStart) =>
      get().then((s) => {
        if (s.spendByHour === undefined) {
          throw new TollgateError('STORE_UNAVAILABLE', 'This audit store cannot sum spend');
        }
        return s.spendByHour(dayStart);
      }),
    spendBy: (q) =>
      get().then((s) => {
        if (s.spendBy === undefined) {
          throw new TollgateError('STORE_UNAVAILABLE', 'This audit store cannot sum spend');
        }
        return s.spendBy(q);
      }),
    spendHistory: (q) =>
      get().then((s) => {
        if (s.spendHistory === undefined) {
          throw new TollgateError('STORE_UNAVAILABLE', 'This audit store cannot sum spend');
        }
        return s.spendHistory(q);
      }),
    close: async () => {
      closed = true;
      await opening?.catch(() => undefined);
      const s = store;
      store = undefined;
      await s?.close();
    },
  };
}
