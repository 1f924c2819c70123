import type { SessionSummary } from '../api/routes/budget.schemas.js';
import { type BudgetStatus, toBudgetStatus } from '../budget/status.js';
import { parseScopedId } from '../engine/ids.js';
import { usdToMicros } from '../engine/money.js';
import type { Actor, Engine } from '../engine/types.js';
import { TollgateError } from '../errors.js';
import { type Policy, unknownRoleWarning } from '../policy/index.js';
import { agentOfKey, checkApiKey, digestKey, generateApiKey, keyMatches } from './api-key.js';
import { type AgentRecord, toAgentRecord } from './record.js';

export interface IdentityDeps {
  engine: Engine;
  policy: Policy;
  actor: Actor;
}

export interface LimitsInput {
  sessionTokenLimit?: number;
  /** USD per day. */
  dailyCostLimit?: number;
  /** Rate limits (docs/limits.md); 0: none; absent: the role's. */
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** USD a month, local to the agent's zone (docs/limits.md); 0: none; absent: the role's. */
  monthlyCostLimit?: number;
  /** IANA time zone of the agent's day and month, e.g. Europe/Berlin; absent: the role's (UTC). */
  timeZone?: string;
}

/** What registerAgent takes besides the role's limits. */
export interface RegisterOptions extends LimitsInput {
  /** The pool the agent joins (docs/limits.md, "Pools"); it must exist. Absent: none. */
  poolId?: string;
}

/** What endSession answers (the wire shape of POST /v1/sessions/end). */
export type { SessionSummary };

/**
 * Agents, their keys and sessions: the guide's identity.js, async, on the
 * engine. Limits come from the policy's role table unless overridden.
 */
export class Identity {
  constructor(private readonly deps: IdentityDeps) {}

  /**
   * Registers an agent and its first session. The API key is returned here
   * only. `apiKey`: a key the caller made (as generateApiKey makes them, for
   * this agent); only its digest is stored. Registering again with the same
   * key finds the first run's agent and answers it (`replayed: true`, nothing
   * written); another key for an existing agent is CONFLICT. `limits.poolId`:
   * the pool it joins, which must exist (else NOT_FOUND, nothing written).
   */
  async registerAgent(
    agentId: string,
    role: string,
    metadata: Record<string, unknown> = {},
    limits: RegisterOptions = {},
    apiKey: string = generateApiKey(agentId),
  ): Promise<AgentRecord & { api_key: string; replayed: boolean }> {
    checkApiKey(apiKey, agentId);
    const snap = await this.deps.engine.registerAgent({
      agentId,
      role,
      ...this.limitsOf(role, limits),
      ...(limits.poolId !== undefined ? { poolId: limits.poolId } : {}),
      keyDigest: digestKey(apiKey),
      metadata: JSON.stringify(metadata),
      actor: this.deps.actor,
    });
    return {
      ...toAgentRecord(snap, this.deps.policy),
      ...this.roleWarnings(role),
      api_key: apiKey,
      replayed: snap.replayed === true,
    };
  }

  async getAgent(agentId: string): Promise<AgentRecord | null> {
    const raw = await this.deps.engine.getAgent(agentId);
    return raw ? toAgentRecord(raw, this.deps.policy) : null;
  }

  async getAllAgents(): Promise<AgentRecord[]> {
    const all = await this.deps.engine.listAgents();
    return all.map((s) => toAgentRecord(s, this.deps.policy));
  }

  /** `{valid, reason}`: the agent exists, is active and, when a key is given, it is the agent's. */
  async verifyAgent(
    agentId: string,
    apiKey?: string,
  ): Promise<{ valid: boolean; reason: string | null }> {
    const raw = await this.deps.engine.getAgent(agentId);
    if (!raw) return { valid: false, reason: 'Agent not found' };
    if (
      apiKey !== undefined &&
      (agentOfKey(apiKey) !== agentId || !keyMatches(apiKey, raw.keyDigest))
    ) {
      return { valid: false, reason: 'Invalid API key' };
    }
    if (raw.status.status !== 'active') return { valid: false, reason: 'Agent is suspended' };
    return { valid: true, reason: null };
  }

  /**
   * Starts a new session (a fresh session budget); the previous one ends.
   * `sessionId` (`<agentId>.<16 hex>`, made by the caller; absent: the engine
   * makes one) names it: a second call with it, while it is current, answers
   * the same session (`replayed: true`) and ends nothing.
   */
  async createSession(
    agentId: string,
    sessionId?: string,
  ): Promise<{ session_id: string; started_at: string; replayed: boolean }> {
    const change = await this.deps.engine.startSession({
      agentId,
      sessionId,
      actor: this.deps.actor,
    });
    return {
      session_id: change.status.sessionId,
      started_at: new Date(change.status.sessionStartedMs).toISOString(),
      replayed: change.replayed,
    };
  }

  /**
   * Ends the agent's current session and returns its summary; a new session
   * opens at once, so the agent is never without one. Accepts the guide's
   * `endSession(sessionId)` (the session id names its agent) and
   * `endSession(agentId, sessionId)`. Ending the session that was ended last
   * again answers its summary again (a retry); any other session that is not
   * the current one is NOT_FOUND.
   */
  async endSession(agentOrSessionId: string, sessionId?: string): Promise<SessionSummary> {
    const sid = sessionId ?? agentOrSessionId;
    const { agentId } = parseScopedId(sid, 'session_id');
    if (sessionId !== undefined && agentId !== agentOrSessionId) {
      throw new TollgateError('NOT_FOUND', 'Session not found or already ended', {
        session_id: sid,
      });
    }
    const change = await this.deps.engine.startSession({
      agentId,
      endSessionId: sid,
      actor: this.deps.actor,
    });
    const e = change.ended;
    return {
      agent_id: agentId,
      session_id: e.sessionId,
      started_at: new Date(e.startedMs).toISOString(),
      ended_at: new Date(change.status.sessionStartedMs).toISOString(),
      tokens_used: e.tokensUsed,
      cost_incurred: e.costMicros / 1_000_000,
      operations_blocked: e.operationsBlocked,
      daily_cost_used: e.dailyCostMicros / 1_000_000,
      next_session_id: change.status.sessionId,
      budget_status: toBudgetStatus(change.status),
    };
  }

  async suspendAgent(agentId: string): Promise<AgentRecord> {
    return this.update(agentId, 'agent_suspended', { status: 'suspended' });
  }

  async resumeAgent(agentId: string): Promise<AgentRecord> {
    return this.update(agentId, 'agent_resumed', { status: 'active' });
  }

  /** The limits an agent of `role` gets: the role's in the policy, unless `limits` says otherwise. */
  private limitsOf(role: string, limits: LimitsInput) {
    const budget = this.deps.policy.roleBudget(role);
    const rates = this.deps.policy.roleRates(role);
    const periods = this.deps.policy.rolePeriods(role);
    return {
      sessionTokenLimit: limits.sessionTokenLimit ?? budget.sessionTokenLimit,
      dailyLimitMicros:
        limits.dailyCostLimit !== undefined
          ? usdToMicros(limits.dailyCostLimit)
          : budget.dailyCostLimitMicros,
      requestsPerMinute: limits.requestsPerMinute ?? rates.requestsPerMinute,
      tokensPerMinute: limits.tokensPerMinute ?? rates.tokensPerMinute,
      monthlyLimitMicros:
        limits.monthlyCostLimit !== undefined
          ? usdToMicros(limits.monthlyCostLimit)
          : periods.monthlyLimitMicros,
      timeZone: limits.timeZone ?? periods.timeZone,
    };
  }

  /**
   * A role the policy does not name is kept, as the guide's `roleBudgets[role]
   * || default` does (the `default` budget, no permissions), and said in the
   * answer: `warnings` (docs/policy.md, "Unknown roles").
   */
  private roleWarnings(role: string): Pick<AgentRecord, 'warnings'> {
    const known = this.deps.policy.knownRoles();
    if (known.includes(role)) return {};
    const { code, path, message } = unknownRoleWarning(role, known, 'role');
    return { warnings: [{ code, path, message }] };
  }

  /** Changes the role; the role's policy limits apply unless `limits` says otherwise. */
  async setRole(agentId: string, role: string, limits: LimitsInput = {}): Promise<AgentRecord> {
    const rec = await this.update(agentId, 'agent_updated', {
      role,
      ...this.limitsOf(role, limits),
    });
    return { ...rec, ...this.roleWarnings(role) };
  }

  /**
   * Puts the agent in `poolId` (null: in no pool; docs/limits.md, "Pools").
   * Its open holds stay charged to the pools they were made under and settle
   * there; its next authorize checks the new pool and those above it.
   */
  async moveAgent(agentId: string, poolId: string | null): Promise<AgentRecord> {
    const snap = await this.deps.engine.moveAgent(agentId, poolId, this.deps.actor);
    return toAgentRecord(snap, this.deps.policy);
  }

  async setMetadata(agentId: string, metadata: Record<string, unknown>): Promise<AgentRecord> {
    return this.update(agentId, 'agent_updated', { metadata: JSON.stringify(metadata) });
  }

  /**
   * setRole and setMetadata in one write and one `agent_updated` event
   * (PATCH /v1/agents/:id): a role takes its policy limits, as setRole.
   */
  async updateAgent(
    agentId: string,
    change: { role?: string; metadata?: Record<string, unknown> },
  ): Promise<AgentRecord> {
    const rec = await this.update(agentId, 'agent_updated', {
      ...(change.role === undefined
        ? {}
        : { role: change.role, ...this.limitsOf(change.role, {}) }),
      ...(change.metadata === undefined ? {} : { metadata: JSON.stringify(change.metadata) }),
    });
    return change.role === undefined ? rec : { ...rec, ...this.roleWarnings(change.role) };
  }

  /** Issues a new key; the old one stops working at once. */
  async rotateKey(agentId: string): Promise<AgentRecord & { api_key: string }> {
    const apiKey = generateApiKey(agentId);
    const rec = await this.update(agentId, 'key_rotated', { keyDigest: digestKey(apiKey) });
    return { ...rec, api_key: apiKey };
  }

  async deleteAgent(agentId: string): Promise<BudgetStatus> {
    return toBudgetStatus(await this.deps.engine.deleteAgent(agentId, this.deps.actor));
  }

  private async update(
    agentId: string,
    event: 'agent_updated' | 'agent_suspended' | 'agent_resumed' | 'key_rotated',
    set: Parameters<Engine['updateAgent']>[0]['set'],
  ): Promise<AgentRecord> {
    const snap = await this.deps.engine.updateAgent({
      agentId,
      event,
      set,
      actor: this.deps.actor,
    });
    return toAgentRecord(snap, this.deps.policy);
  }
}
