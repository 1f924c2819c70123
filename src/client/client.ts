import { randomBytes, randomUUID } from 'node:crypto';
import type {
  AgentList,
  AgentRecord,
  AgentWithKey,
  DeletedAgent,
  RegisterAgentBody,
  Verification,
} from '../api/routes/agents.schemas.js';
import type {
  AuditLagWire,
  AuditPageWire,
  SpendQueryWire,
  SpendWire,
} from '../api/routes/audit.schemas.js';
import type {
  Dashboard,
  SessionStarted,
  SessionSummary,
  SetLimitsBody,
} from '../api/routes/budget.schemas.js';
import type {
  AuthorizeBody,
  Decision,
  ReleaseAnswer,
  SettleAnswer,
  SettleBody,
  UsageAnswer,
  UsageBody,
} from '../api/routes/gate.schemas.js';
import type { BudgetStatus } from '../api/routes/shared.schemas.js';
import type { EventType } from '../audit/event.js';
import { newUsageId } from '../budget/usage-id.js';
import { type LazyTokenCounter, lazyTokenCounter } from '../meter/counter.js';
import { createMeteredFetch } from '../meter/fetch.js';
import { PermissionDenied } from './errors.js';
import { Http, type HttpOptions } from './http.js';
import { httpGate } from './model-fetch.js';

/**
 * The SDK's types are the API's schemas' (src/api/routes/*.schemas.ts): what
 * a route parses (`z.input`) and what it answers (`z.output`).
 */
export type { ReleaseAnswer, SettleAnswer, UsageAnswer };

export type ClientOptions = HttpOptions;

export interface RunUsage {
  inputTokens?: number;
  outputTokens?: number;
  model?: string;
}

const enc = encodeURIComponent;

/** GET /v1/audit filters (all optional; they combine). */
export interface AuditQuery {
  /** One agent's events (an agent key: its own, the default). */
  agent_id?: string;
  type?: EventType;
  /** With an agent: `current` (default) its present incarnation's events, `all` every one of the id. */
  incarnations?: 'current' | 'all';
  /** Decisions allowed (true) or denied (false). */
  allowed?: boolean;
  /** At or after: a Date, ms since the epoch, or an ISO 8601 string. */
  from?: Date | number | string;
  /** Before (exclusive); as `from`. */
  to?: Date | number | string;
  /** The previous page's `next_cursor`. */
  cursor?: string;
  /** 1-1000, default 100. */
  limit?: number;
}

export type AuditPage = AuditPageWire;
export type AuditEntry = AuditPageWire['events'][number];
export type AuditLag = AuditLagWire;

function timeParam(v: Date | number | string): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

/** The query string of an audit query (`?…`, or '' when empty). */
export function auditQueryString(q: AuditQuery): string {
  const p = new URLSearchParams();
  if (q.agent_id !== undefined) p.set('agent_id', q.agent_id);
  if (q.type !== undefined) p.set('type', q.type);
  if (q.incarnations !== undefined) p.set('incarnations', q.incarnations);
  if (q.allowed !== undefined) p.set('allowed', String(q.allowed));
  if (q.from !== undefined) p.set('from', timeParam(q.from));
  if (q.to !== undefined) p.set('to', timeParam(q.to));
  if (q.cursor !== undefined) p.set('cursor', q.cursor);
  if (q.limit !== undefined) p.set('limit', String(q.limit));
  const text = p.toString();
  return text === '' ? '' : `?${text}`;
}

/** A new agent key, shaped as the server makes them: `tg_<agentId>.<256 random bits, base64url>`. */
export function newApiKey(agentId: string): string {
  return `tg_${agentId}.${randomBytes(32).toString('base64url')}`;
}

/** A new session id for `agentId`: `<agentId>.<16 lowercase hex>`. */
export function newSessionId(agentId: string): string {
  return `${agentId}.${randomBytes(8).toString('hex')}`;
}

/**
 * The Tollgate SDK: one method per HTTP route.
 *
 * Writes that are safe to repeat are retried (with backoff) when the network
 * fails or the server answers 502, 503 or 504; a retry sends the same ids, so
 * the server counts the write once however many attempts reached it:
 * - authorize carries a `request_id` (made here when not given): a retried
 *   authorize holds once, and answers `replayed: true`;
 * - registerAgent carries the agent's `api_key` (made here when not given; only
 *   its digest reaches the store): a retried registration answers the agent
 *   the first attempt created;
 * - startSession carries the new `session_id` (made here when not given): a
 *   retry answers that session and ends nothing more;
 * - endSession names the session: a retry answers its summary again;
 * - recordUsage carries a `usage_id` (made here when not given): a retry
 *   answers the recorded cost (`replayed: true`);
 * - settle and release are idempotent by reservation id (a settle sent again
 *   with the same usage answers `already_closed` and the recorded cost; with
 *   other usage, 409 IDEMPOTENCY_CONFLICT).
 * Pass your own ids to make a write safe to repeat across processes (e.g. a
 * request re-run after a crash). Other writes (suspend and resume, limits,
 * key rotation, delete) are retried only where repeating them changes
 * nothing more (suspend, resume, limits).
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
  registerAgent(body: RegisterAgentBody) {
    return this.http.request<AgentWithKey>(
      'POST',
      '/v1/agents',
      { ...body, api_key: body.api_key ?? newApiKey(body.agent_id) },
      true,
    );
  }
  listAgents() {
    return this.http.request<AgentList>('GET', '/v1/agents', undefined, true);
  }
  getAgent(id: string) {
    return this.http.request<AgentRecord>('GET', `/v1/agents/${enc(id)}`, undefined, true);
  }
  verifyAgent(id: string) {
    return this.http.request<Verification>('GET', `/v1/agents/${enc(id)}/verify`, undefined, true);
  }
  suspendAgent(id: string) {
    return this.http.request<AgentRecord>('POST', `/v1/agents/${enc(id)}/suspend`, {}, true);
  }
  resumeAgent(id: string) {
    return this.http.request<AgentRecord>('POST', `/v1/agents/${enc(id)}/resume`, {}, true);
  }
  rotateKey(id: string) {
    return this.http.request<AgentWithKey>('POST', `/v1/agents/${enc(id)}/keys`, {}, false);
  }
  deleteAgent(id: string) {
    return this.http.request<DeletedAgent>('DELETE', `/v1/agents/${enc(id)}`, undefined, false);
  }
  setLimits(id: string, body: SetLimitsBody) {
    return this.http.request<BudgetStatus>('PUT', `/v1/agents/${enc(id)}/budget`, body, true);
  }
  /** GET /v1/dashboard (admin): one row per agent. */
  getDashboard() {
    return this.http.request<Dashboard>('GET', '/v1/dashboard', undefined, true);
  }
  getBudgetStatus(id: string) {
    return this.http.request<BudgetStatus>('GET', `/v1/agents/${enc(id)}/budget`, undefined, true);
  }
  /**
   * Starts a new session; the current one ends. The new session's id is made
   * here when not given, so the call is retried safely: a retry answers that
   * session and ends nothing more.
   */
  startSession(id: string, sessionId: string = newSessionId(id)) {
    return this.http.request<SessionStarted>(
      'POST',
      `/v1/agents/${enc(id)}/sessions`,
      { session_id: sessionId },
      true,
    );
  }
  /** Ends session `sessionId`; retried safely (a retry answers its summary again). */
  endSession(id: string, sessionId: string) {
    return this.http.request<SessionSummary>(
      'DELETE',
      `/v1/agents/${enc(id)}/sessions/${enc(sessionId)}`,
      undefined,
      true,
    );
  }

  /** POST /v1/authorize; a request_id is generated when not given and reused on retries. */
  authorize(body: AuthorizeBody) {
    return this.http.request<Decision>(
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
  settle(body: SettleBody) {
    return this.http.request<SettleAnswer>('POST', '/v1/settle', body, true);
  }
  release(reservationId: string) {
    return this.http.request<ReleaseAnswer>(
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
  recordUsage(body: UsageBody) {
    return this.http.request<UsageAnswer>(
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
    return this.http.request<AuditPage>(
      'GET',
      `/v1/audit${auditQueryString(query)}`,
      undefined,
      true,
    );
  }

  /** Every page of `audit(query)` in turn (from `query.cursor`, or the newest). */
  async *auditPages(query: AuditQuery = {}): AsyncGenerator<AuditPage> {
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
    return this.http.request<AuditLag>('GET', '/v1/audit/lag', undefined, true);
  }

  /**
   * GET /v1/spend: the settle and usage events' cost and tokens over
   * [`from`, `to`) (default: today, UTC), summed by `group_by` (`model` by
   * default, or `role`, `operation`, `agent_id`), most costly first. Times as
   * in `audit`. An agent key reads only its own agent's spend.
   */
  spend(
    query: Omit<SpendQueryWire, 'from' | 'to'> & {
      from?: Date | number | string;
      to?: Date | number | string;
    } = {},
  ) {
    const p = new URLSearchParams();
    if (query.from !== undefined) p.set('from', timeParam(query.from));
    if (query.to !== undefined) p.set('to', timeParam(query.to));
    if (query.group_by !== undefined) p.set('group_by', query.group_by);
    if (query.agent_id !== undefined) p.set('agent_id', query.agent_id);
    const text = p.toString();
    return this.http.request<SpendWire>(
      'GET',
      `/v1/spend${text === '' ? '' : `?${text}`}`,
      undefined,
      true,
    );
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
  async run<T extends RunUsage>(
    agentId: string,
    operation: string,
    opts: { estimatedTokens?: number; model?: string },
    fn: () => Promise<T>,
  ): Promise<T & { budget_status: BudgetStatus }> {
    const d = await this.authorize({
      agent_id: agentId,
      operation,
      estimated_tokens: opts.estimatedTokens,
      model: opts.model,
    });
    if (!d.allowed) throw new PermissionDenied(d);
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      await this.settle({
        reservation_id: d.reservation_id,
        input_tokens: opts.estimatedTokens ?? 1000,
        output_tokens: 0,
        model: opts.model,
        result: 'failure',
      });
      throw err;
    }
    const s = await this.settle({
      reservation_id: d.reservation_id,
      input_tokens: result.inputTokens ?? 0,
      output_tokens: result.outputTokens ?? 0,
      model: result.model ?? opts.model,
      result: 'success',
    });
    return { ...result, budget_status: s.budget_status };
  }
}
