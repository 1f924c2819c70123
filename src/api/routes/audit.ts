import { StatementTimeoutError } from '../../audit/store/db.js';
import type { SpendRow } from '../../audit/store/types.js';
import { DAY_MS } from '../../engine/clock.js';
import { microsToUsd } from '../../engine/money.js';
import { isTollgateError, TollgateError } from '../../errors.js';
import { auditLag, pageToWire } from '../audit.js';
import { PublicDetailsError, validationError } from '../errors.js';
import { defineRoute, type Route } from '../route.js';
import {
  AuditLagSchema,
  AuditPageSchema,
  AuditQuery,
  DEFAULT_AUDIT_PAGE,
  SpendQuery,
  SpendSchema,
} from './audit.schemas.js';

/**
 * The audit ledger (GET /v1/audit), its undrained backlog (GET /v1/audit/lag)
 * and the spend summed from it by model, role, operation or agent (GET /v1/spend).
 */
const TAG = 'audit';

/** 503 STORE_UNAVAILABLE: no audit store on this server. */
export function notConfigured(): PublicDetailsError {
  return new PublicDetailsError(
    'STORE_UNAVAILABLE',
    'No audit store is configured on this server (Redis mode: set DATABASE_URL, or run tollgate serve --with-worker)',
    { store: 'not configured' },
  );
}

/** A store read's failure as the API answers it (503; a read timeout says so). */
export function storeFailure(e: unknown): Error {
  if (e instanceof StatementTimeoutError) {
    return new PublicDetailsError(
      'STORE_UNAVAILABLE',
      `The audit store did not finish the read within its read timeout (${e.timeoutMs} ms)`,
      { store: 'read timeout', timeout_ms: e.timeoutMs },
    );
  }
  if (isTollgateError(e)) return e;
  return new TollgateError('STORE_UNAVAILABLE', 'The audit store is not answering');
}

export function spendRowToWire(r: SpendRow) {
  return {
    key: r.key === '' ? null : r.key,
    cost: microsToUsd(r.costMicros),
    cost_micros: r.costMicros,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    events: r.events,
    estimated_events: r.estimatedEvents,
  };
}

export const auditRoutes: Route[] = [
  defineRoute({
    method: 'get',
    path: '/v1/audit',
    auth: 'agent',
    // An agent key reads its own agent's events only: `agent_id` left out is its own.
    agentOf: ({ query }) => query.agent_id,
    tag: TAG,
    summary: 'Read the audit ledger',
    description: [
      'Stored events, newest first, in pages (a keyset cursor on (at, event_id): pages never repeat an event, nor skip one stored before the listing began). Filters combine (AND).',
      'The admin token reads every agent’s events (`agent_id` optional); an agent key reads only its own (`agent_id` defaults to it; another agent’s id is 403). Key digests are never shown.',
      'Events reach the store through the drain (the worker in Redis mode, in process in embedded mode): an event appears once drained; see GET /v1/audit/lag. No store configured: 503 STORE_UNAVAILABLE with details `{store: "not configured"}`.',
      'Every combination of filters is read from an index in page order (docs/store.md). On PostgreSQL a read is canceled at the store’s statement timeout (TOLLGATE_AUDIT_READ_TIMEOUT_MS, default 5 s): 503 STORE_UNAVAILABLE with details `{store: "read timeout", timeout_ms}`.',
    ].join('\n\n'),
    query: AuditQuery,
    response: AuditPageSchema,
    handler: async ({ query, caller, tollgate }) => {
      const store = tollgate.store;
      if (store === undefined) throw notConfigured();
      const agentId = query.agent_id ?? (caller?.kind === 'agent' ? caller.agentId : undefined);
      try {
        const page = await store.queryEvents({
          agentId,
          incarnations: query.incarnations,
          type: query.type,
          allowed: query.allowed,
          from: query.from,
          to: query.to,
          cursor: query.cursor,
          limit: query.limit ?? DEFAULT_AUDIT_PAGE,
        });
        return pageToWire(page);
      } catch (e) {
        throw storeFailure(e);
      }
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/spend',
    auth: 'agent',
    // An agent key reads its own agent's spend only: `agent_id` left out is its own.
    agentOf: ({ query }) => query.agent_id,
    tag: TAG,
    summary: 'Spend by model, role, operation or agent',
    description: [
      'From the audit store: the settle and usage events (the two that charge money) in [`from`, `to`), their cost and tokens summed per `group_by` (`model` by default), most costly first. `estimated_events` counts the settles whose usage was an estimate (a metered model call whose stream was cut before its usage arrived).',
      'The admin token reads every agent’s spend (`agent_id` optional); an agent key reads only its own (`agent_id` defaults to it; another agent’s id is 403).',
      'Events count once drained (see GET /v1/audit/lag). No store configured: 503 STORE_UNAVAILABLE with details `{store: "not configured"}`; a read canceled at the store’s statement timeout: 503 with details `{store: "read timeout", timeout_ms}`.',
    ].join('\n\n'),
    query: SpendQuery,
    response: SpendSchema,
    handler: async ({ query, caller, tollgate }) => {
      const store = tollgate.store;
      if (store?.spendBy === undefined) throw notConfigured();
      const agentId = query.agent_id ?? (caller?.kind === 'agent' ? caller.agentId : undefined);
      const from = query.from ?? Math.floor(Date.now() / DAY_MS) * DAY_MS;
      const to = query.to ?? from + DAY_MS;
      if (to < from) throw validationError([{ path: 'query.to', message: 'is before from' }]);
      const groupBy = query.group_by ?? 'model';
      let rows: SpendRow[];
      try {
        rows = await store.spendBy({ from, to, groupBy, agentId });
      } catch (e) {
        throw storeFailure(e);
      }
      return {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        group_by: groupBy,
        agent_id: agentId ?? null,
        rows: rows.map(spendRowToWire),
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/audit/lag',
    auth: 'admin',
    tag: TAG,
    summary: 'Audit backlog',
    description:
      'Events decided but not yet in the store, per shard: backlog, of those read and not yet acknowledged (pending), the age of the oldest, dead letters. Embedded mode adds the in-process drain’s counters. The same detail is in /readyz.',
    response: AuditLagSchema,
    handler: async ({ tollgate }) => {
      try {
        return await auditLag(tollgate);
      } catch (e) {
        if (isTollgateError(e)) throw e;
        throw new TollgateError('STORE_UNAVAILABLE', 'The store (Redis) is not answering');
      }
    },
  }),
];
