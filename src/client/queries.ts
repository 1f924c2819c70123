import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { ListAgentsQuery } from '../api/routes/agents.schemas.js';
import type { SpendQueryWire } from '../api/routes/audit.schemas.js';
import type { DashboardHistoryQuery, DashboardSpendQuery } from '../api/routes/budget.schemas.js';
import type { EventType } from '../audit/event.js';

/** The SDK's query strings and the ids it makes before sending (src/client/client.ts). */

/** A time in a query: a Date, ms since the epoch, or an ISO 8601 string (`2025-06-01`, `…T12:00:00Z`). */
export type TimeInput = Date | number | string;

/** GET /v1/agents filters. */
export type AgentsQuery = z.input<typeof ListAgentsQuery>;

/** GET /v1/dashboard/spend: the UTC day (`YYYY-MM-DD`; default today). */
export type DashboardSpendQueryInput = z.input<typeof DashboardSpendQuery>;

/** GET /v1/dashboard/history: the first and last UTC days (`YYYY-MM-DD`; default the last 30 days). */
export type DashboardHistoryQueryInput = z.input<typeof DashboardHistoryQuery>;

/** GET /v1/webhooks/dead-letters: how many, 1-1000 (default 100), the latest first. */
export interface DeadLetterQueryInput {
  limit?: number;
}

/** PUT /v1/policy, PATCH /v1/policy/roles/:role: the query `expected_version`, `dry_run`. */
export interface SetPolicyOptions {
  /** The version the change is made on (`getPolicy()`'s `version`): another in force is 409 CONFLICT. */
  expectedVersion?: number;
  /** Check and compare only: the problems, the changes, the warnings; nothing changes. */
  dryRun?: boolean;
}

/** The query string of a policy change (`?expected_version=3&dry_run=true`, or ''). */
export function policyQueryString(o: SetPolicyOptions): string {
  return queryString({
    expected_version: o.expectedVersion,
    dry_run: o.dryRun === true ? true : undefined,
  });
}

/** GET /v1/audit filters (all optional; they combine). */
export interface AuditQuery {
  /** One agent's events (an agent key: its own, the default). */
  agent_id?: string;
  type?: EventType;
  /** With an agent: `current` (default) its present incarnation's events, `all` every one of the id. */
  incarnations?: 'current' | 'all';
  /** Decisions allowed (true) or denied (false). */
  allowed?: boolean;
  /** At or after. */
  from?: TimeInput;
  /** Before (exclusive); as `from`. */
  to?: TimeInput;
  /** The previous page's `next_cursor`. */
  cursor?: string;
  /** 1-1000, default 100. */
  limit?: number;
}

/** GET /v1/spend: as the route's query, with times as in `AuditQuery`. */
export type SpendQuery = Omit<SpendQueryWire, 'from' | 'to'> & { from?: TimeInput; to?: TimeInput };

type Param = string | number | boolean | Date | undefined;

/** `?a=1&b=2` from the defined values (Dates as ISO 8601), or '' when there are none. */
export function queryString(params: Readonly<Record<string, Param>>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) p.set(k, v instanceof Date ? v.toISOString() : String(v));
  }
  const text = p.toString();
  return text === '' ? '' : `?${text}`;
}

/** The query string of an audit query (`?…`, or '' when empty). */
export function auditQueryString(q: AuditQuery): string {
  return queryString({
    agent_id: q.agent_id,
    type: q.type,
    incarnations: q.incarnations,
    allowed: q.allowed,
    from: q.from,
    to: q.to,
    cursor: q.cursor,
    limit: q.limit,
  });
}

/** A new agent key, shaped as the server makes them: `tg_<agentId>.<256 random bits, base64url>`. */
export function newApiKey(agentId: string): string {
  return `tg_${agentId}.${randomBytes(32).toString('base64url')}`;
}

/** A new session id for `agentId`: `<agentId>.<16 lowercase hex>`. */
export function newSessionId(agentId: string): string {
  return `${agentId}.${randomBytes(8).toString('hex')}`;
}
