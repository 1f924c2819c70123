import { randomUUID } from 'node:crypto';
import { newUsageId } from '../budget/usage-id.js';
import { AGENT_ID } from '../engine/ids.js';
import { type LazyTokenCounter, lazyTokenCounter } from '../meter/counter.js';
import { createMeteredFetch } from '../meter/fetch.js';
import { Http, type HttpOptions } from './http.js';
import { httpGate } from './model-fetch.js';
import {
  type AgentsQuery,
  type AuditQuery,
  auditQueryString,
  type DashboardHistoryQueryInput,
  type DashboardSpendQueryInput,
  type DeadLetterQueryInput,
  newApiKey,
  newSessionId,
  policyQueryString,
  queryString,
  type SetPolicyOptions,
  type SpendQuery,
} from './queries.js';
import { type RunUsage, runOperation } from './run.js';
import type * as T from './types.js';

export type { RunUsage };

export type ClientOptions = HttpOptions;

const enc = encodeURIComponent;

/**
 * The Tollgate SDK: one method per HTTP route (docs/sdk.md lists them with
 * their routes, arguments and errors). Every failure is a TollgateApiError
 * naming the request's method and URL.
 *
 * A write is retried (with backoff) on a network failure or a 502/503/504
 * only where repeating it changes nothing more: it carries an id made here
 * before sending (authorize's `request_id`, registerAgent's `api_key`,
 * startSession's `session_id`, recordUsage's `usage_id`; pass your own to be
 * safe across processes), names what it closes (endSession; settle and
 * release, by reservation id), or sets a value (suspend, resume, limits, role
 * and metadata, pools, an agent's pool, the policy unless given an expected
 * version). Key rotation, deletes, new webhooks and dead-letter retries are
 * sent once (docs/sdk.md, "Retries").
 */
export class TollgateClient {
  private readonly http: Http;
  /** The token counter of this client's metered fetches (made on first use). */
  private counter: LazyTokenCounter | undefined;

  constructor(opts: ClientOptions) {
    this.http = new Http(opts);
  }

  /**
   * POST /v1/agents (admin). The agent's key is made here when `api_key` is
   * not given (the server only stores its digest), so the call is retried
   * safely: a retry answers the agent the first attempt created.
   */
  registerAgent(body: T.RegisterAgentBody) {
    return this.http.request<T.AgentWithKey>(
      'POST',
      '/v1/agents',
      // An invalid id is refused anyway (400 naming agent_id): no key made for it.
      {
        ...body,
        api_key:
          body.api_key ?? (AGENT_ID.test(body.agent_id) ? newApiKey(body.agent_id) : undefined),
      },
      true,
    );
  }
  /** GET /v1/agents (admin): every agent, or those of `role`, in `status`, directly in `pool_id`. */
  listAgents(query: AgentsQuery = {}) {
    const q = queryString({ role: query.role, status: query.status, pool_id: query.pool_id });
    return this.http.request<T.AgentList>('GET', `/v1/agents${q}`, undefined, true);
  }
  getAgent(id: string) {
    return this.http.request<T.AgentRecord>('GET', `/v1/agents/${enc(id)}`, undefined, true);
  }
  /**
   * PATCH /v1/agents/:id (admin): a new role (its permissions and policy
   * limits, replacing overrides), new metadata (replaced whole), or both.
   * Retried safely: the same change again writes nothing.
   */
  updateAgent(id: string, body: T.UpdateAgentBody) {
    return this.http.request<T.AgentRecord>('PATCH', `/v1/agents/${enc(id)}`, body, true);
  }
  verifyAgent(id: string) {
    return this.http.request<T.Verification>(
      'GET',
      `/v1/agents/${enc(id)}/verify`,
      undefined,
      true,
    );
  }
  suspendAgent(id: string) {
    return this.http.request<T.AgentRecord>('POST', `/v1/agents/${enc(id)}/suspend`, {}, true);
  }
  resumeAgent(id: string) {
    return this.http.request<T.AgentRecord>('POST', `/v1/agents/${enc(id)}/resume`, {}, true);
  }
  rotateKey(id: string) {
    return this.http.request<T.AgentWithKey>('POST', `/v1/agents/${enc(id)}/keys`, {}, false);
  }
  deleteAgent(id: string) {
    return this.http.request<T.DeletedAgent>('DELETE', `/v1/agents/${enc(id)}`, undefined, false);
  }
  setLimits(id: string, body: T.SetLimitsBody) {
    return this.http.request<T.BudgetStatus>('PUT', `/v1/agents/${enc(id)}/budget`, body, true);
  }
  /**
   * POST /v1/pools (admin): a shared budget over the agents in it and the pools
   * beneath it (docs/limits.md, "Pools"). Retried safely: the same create
   * again answers the pool and writes nothing.
   */
  createPool(body: T.CreatePoolBody) {
    return this.http.request<T.PoolRecord>('POST', '/v1/pools', body, true);
  }
  /** GET /v1/pools (admin): every pool with its status, roots first. */
  listPools() {
    return this.http.request<T.PoolList>('GET', '/v1/pools', undefined, true);
  }
  /** GET /v1/pools/:id (admin): its status and the ids of its agents and pools. */
  getPool(id: string) {
    return this.http.request<T.PoolDetail>('GET', `/v1/pools/${enc(id)}`, undefined, true);
  }
  /** PATCH /v1/pools/:id (admin): its limits and time zone; retried safely. */
  updatePool(id: string, body: T.UpdatePoolBody) {
    return this.http.request<T.PoolRecord>('PATCH', `/v1/pools/${enc(id)}`, body, true);
  }
  /** DELETE /v1/pools/:id (admin): an empty pool (else 409 CONFLICT, `pool_not_empty`). */
  deletePool(id: string) {
    return this.http.request<T.DeletedPool>('DELETE', `/v1/pools/${enc(id)}`, undefined, false);
  }
  /** PUT /v1/agents/:id/pool (admin): the agent joins `poolId` (null: none); retried safely. */
  moveAgent(id: string, poolId: string | null) {
    return this.http.request<T.AgentRecord>(
      'PUT',
      `/v1/agents/${enc(id)}/pool`,
      { pool_id: poolId },
      true,
    );
  }

  /** GET /v1/policy (admin): the policy in force, its version, who set it and when, its warnings. */
  getPolicy() {
    return this.http.request<T.PolicyState>('GET', '/v1/policy', undefined, true);
  }
  /**
   * PUT /v1/policy (admin): a whole document, as a policy file (400 lists every problem).
   * Retried safely (the same document stores nothing) unless given `expectedVersion`.
   */
  setPolicy(doc: T.PolicyDocumentBody, opts: SetPolicyOptions = {}) {
    return this.policyChange('PUT', '/v1/policy', doc, opts);
  }
  /** PATCH /v1/policy/roles/:role (admin): one role's fields, the rest kept; as `setPolicy`. */
  setPolicyRole(role: string, entry: T.PolicyRoleBody, opts: SetPolicyOptions = {}) {
    return this.policyChange('PATCH', `/v1/policy/roles/${enc(role)}`, entry, opts);
  }
  /** PUT /v1/policy/shadow-agents (admin): the agents in shadow mode, replaced; as `setPolicy`. */
  setShadowAgents(agents: readonly string[], opts: SetPolicyOptions = {}) {
    return this.policyChange('PUT', '/v1/policy/shadow-agents', { agents: [...agents] }, opts);
  }
  private policyChange(method: 'PUT' | 'PATCH', path: string, body: unknown, o: SetPolicyOptions) {
    const to = `${path}${policyQueryString(o)}`;
    return this.http.request<T.PolicyChange>(method, to, body, o.expectedVersion === undefined);
  }

  /** POST /v1/webhooks (admin): where budget alerts are POSTed, signed with `secret`. Sent once. */
  createWebhook(body: T.CreateWebhookBody) {
    return this.http.request<T.Webhook>('POST', '/v1/webhooks', body, false);
  }
  /** GET /v1/webhooks (admin): every webhook, oldest first, without its secret. */
  listWebhooks() {
    return this.http.request<T.WebhookList>('GET', '/v1/webhooks', undefined, true);
  }
  /** DELETE /v1/webhooks/:id (admin): nothing more is sent to it. */
  deleteWebhook(id: string) {
    return this.http.request<T.DeletedWebhook>(
      'DELETE',
      `/v1/webhooks/${enc(id)}`,
      undefined,
      false,
    );
  }
  /** GET /v1/webhooks/dead-letters (admin): deliveries whose every attempt failed, latest first. */
  listDeadLetters(query: DeadLetterQueryInput = {}) {
    const q = queryString({ limit: query.limit });
    return this.http.request<T.DeadLetterList>(
      'GET',
      `/v1/webhooks/dead-letters${q}`,
      undefined,
      true,
    );
  }
  /** POST /v1/webhooks/dead-letters/:id/retry (admin): a new run of the delivery (409 if not dead). */
  retryDeadLetter(id: string) {
    return this.http.request<T.RetriedDeadLetter>(
      'POST',
      `/v1/webhooks/dead-letters/${enc(id)}/retry`,
      {},
      false,
    );
  }

  /** GET /v1/dashboard (admin): one row per agent. */
  getDashboard() {
    return this.http.request<T.Dashboard>('GET', '/v1/dashboard', undefined, true);
  }
  /** GET /v1/dashboard/spend (admin): a UTC day's spend per hour and role, from the store. */
  getDashboardSpend(query: DashboardSpendQueryInput = {}) {
    const q = queryString({ date: query.date });
    return this.http.request<T.DashboardSpend>('GET', `/v1/dashboard/spend${q}`, undefined, true);
  }
  /**
   * GET /v1/dashboard/history (admin, read-only token): spend of a range of UTC days
   * (default the last 30, at most 92) by day, and over the range by role, model and operation.
   */
  getDashboardHistory(query: DashboardHistoryQueryInput = {}) {
    const q = queryString({ from: query.from, to: query.to });
    return this.http.request<T.DashboardHistory>(
      'GET',
      `/v1/dashboard/history${q}`,
      undefined,
      true,
    );
  }
  getBudgetStatus(id: string) {
    return this.http.request<T.BudgetStatus>(
      'GET',
      `/v1/agents/${enc(id)}/budget`,
      undefined,
      true,
    );
  }
  /**
   * Starts a new session; the current one ends. The new session's id is made
   * here when not given, so the call is retried safely: a retry answers that
   * session and ends nothing more.
   */
  startSession(id: string, sessionId: string = newSessionId(id)) {
    return this.http.request<T.SessionStarted>(
      'POST',
      `/v1/agents/${enc(id)}/sessions`,
      { session_id: sessionId },
      true,
    );
  }
  /** Ends session `sessionId`; retried safely (a retry answers its summary again). */
  endSession(id: string, sessionId: string) {
    return this.http.request<T.SessionSummary>(
      'DELETE',
      `/v1/agents/${enc(id)}/sessions/${enc(sessionId)}`,
      undefined,
      true,
    );
  }

  /** POST /v1/authorize; a request_id is generated when not given and reused on retries. */
  authorize(body: T.AuthorizeBody) {
    return this.http.request<T.Decision>(
      'POST',
      '/v1/authorize',
      { ...body, request_id: body.request_id ?? randomUUID() },
      true,
    );
  }
  /**
   * POST /v1/settle; retried safely (idempotent by reservation id). The usage
   * is priced at the hold's model: `model` is accepted and ignored.
   */
  settle(body: T.SettleBody) {
    return this.http.request<T.SettleAnswer>('POST', '/v1/settle', body, true);
  }
  release(reservationId: string) {
    return this.http.request<T.ReleaseAnswer>(
      'POST',
      '/v1/release',
      { reservation_id: reservationId },
      true,
    );
  }
  /**
   * POST /v1/usage: usage with nothing held. A `usage_id` is made here when
   * not given and reused on retries, so a retried record counts once.
   */
  recordUsage(body: T.UsageBody) {
    return this.http.request<T.UsageAnswer>(
      'POST',
      '/v1/usage',
      { ...body, usage_id: body.usage_id ?? newUsageId() },
      true,
    );
  }

  /**
   * GET /v1/audit: one page of stored audit events, newest first. Pass the
   * answer's `next_cursor` as `cursor` (same filters) for the next page; it is
   * absent on the last one. An agent key reads only its own agent's events.
   */
  audit(query: AuditQuery = {}) {
    return this.http.request<T.AuditPage>(
      'GET',
      `/v1/audit${auditQueryString(query)}`,
      undefined,
      true,
    );
  }

  /** Every page of `audit(query)` in turn (from `query.cursor`, or the newest). */
  async *auditPages(query: AuditQuery = {}): AsyncGenerator<T.AuditPage> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.audit({ ...query, cursor });
      yield page;
      if (page.next_cursor === undefined) return;
      cursor = page.next_cursor;
    }
  }

  /** GET /v1/audit/lag (admin): the undrained audit backlog per shard. */
  auditLag() {
    return this.http.request<T.AuditLag>('GET', '/v1/audit/lag', undefined, true);
  }

  /**
   * GET /v1/spend: the settle and usage events' cost and tokens over
   * [`from`, `to`) (default: today, UTC), summed by `group_by` (`model` by
   * default, or `role`, `operation`, `agent_id`), most costly first. Times as
   * in `audit`. An agent key reads only its own agent's spend.
   */
  spend(query: SpendQuery = {}) {
    const q = queryString({
      from: query.from,
      to: query.to,
      group_by: query.group_by,
      agent_id: query.agent_id,
    });
    return this.http.request<T.Spend>('GET', `/v1/spend${q}`, undefined, true);
  }

  /** GET /healthz (open): the process is up. */
  health() {
    return this.http.request<T.Health>('GET', '/healthz', undefined, true);
  }
  /**
   * GET /readyz (open): the engine answers and the policy is loaded, with the
   * audit backlog and the drain's health. Not ready: TollgateApiError 503
   * STORE_UNAVAILABLE (not retried: the answer is the probe's).
   */
  ready() {
    return this.http.request<T.Readiness>('GET', '/readyz', undefined, false);
  }
  /** GET /openapi.json (open): the API's OpenAPI 3.1 document. */
  openapi() {
    return this.http.request<T.OpenApiDocument>('GET', '/openapi.json', undefined, true);
  }
  /** GET /metrics: Prometheus' text format (admin token, unless the server serves it open). */
  metrics() {
    return this.http.text('/metrics');
  }

  /**
   * A `fetch` for `new OpenAI({ fetch })` or `new Anthropic({ fetch })` that
   * meters the agent's model calls through this server (docs/models.md, "The
   * fetch and the gateway"): held from the request (its tokens counted here,
   * priced by the server), settled from the response's usage, a denial
   * answered as the provider's 402 error. Other calls pass through.
   */
  fetch(options: {
    agentId: string;
    /** The fetch that reaches the provider (default: the global fetch). */
    fetch?: typeof globalThis.fetch;
    /** A settle that failed after the provider answered (default: console.error). */
    onError?: (error: unknown) => void;
  }): typeof globalThis.fetch {
    this.counter ??= lazyTokenCounter();
    return createMeteredFetch({
      gate: httpGate(this, options.agentId),
      counter: this.counter,
      fetch: options.fetch,
      onError: options.onError,
    });
  }

  /**
   * The guide's executeAgentOperation over HTTP: authorize, run `fn`, settle
   * the usage it reports; a failure is settled with the estimate as input
   * tokens, then rethrown. A denial throws PermissionDenied.
   */
  run<T extends RunUsage>(
    agentId: string,
    operation: string,
    opts: { estimatedTokens?: number; model?: string },
    fn: () => Promise<T>,
  ): Promise<T & { budget_status: T.BudgetStatus }> {
    return runOperation(this, agentId, operation, opts, fn);
  }
}
