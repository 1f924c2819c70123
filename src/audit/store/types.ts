import type { AuditEvent, EventType } from '../event.js';
import type { PolicyVersionStore } from './policies.js';
import type { WebhookStore } from './webhooks.js';

export type { NewPolicyVersion, PolicyVersionStore, StoredPolicy } from './policies.js';

export type {
  AlertEventRow,
  AttemptOutcome,
  DeadLetterRow,
  DeliveryKey,
  DeliveryStatus,
  DeliveryToSend,
  NewWebhook,
  Webhook,
  WebhookStore,
} from './webhooks.js';

/**
 * The durable store (ARCHITECTURE.md, rule 'Redis decides; the store remembers
 * and restores'): PostgreSQL through `pg`, or PGlite in a
 * data folder, with one set of migrations and queries. Redis decides; the
 * store remembers: the audit ledger, and the agent registry and session
 * summaries projected from it in the same transaction.
 */
export interface AuditFilter {
  agentId?: string;
  type?: EventType;
  allowed?: boolean;
  /** ms, inclusive. */
  from?: number;
  /** ms, exclusive. */
  to?: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  /** At most 1,000. */
  limit?: number;
  /**
   * With `agentId`: 'current' (the default) keeps the events of the agent's
   * current incarnation only (at >= the registry's created_at for the id: a
   * deleted and re-registered agent's earlier events are left out); 'all'
   * keeps every event of the id.
   */
  incarnations?: 'current' | 'all';
}

export interface AuditPage {
  events: AuditEvent[];
  /** Absent on the last page. */
  nextCursor?: string;
}

/** An agent as projected from its events (the registry recovery restores from). */
export interface StoredAgent {
  agentId: string;
  role: string;
  status: 'active' | 'suspended';
  sessionId: string;
  sessionStartedAt: number;
  sessionTokenLimit: number;
  dailyCostLimit: number;
  keyDigest: string;
  createdAt: number;
  metadata: string;
  /** The at of the last event applied. */
  updatedAt: number;
  /** Rate limits per minute (0: none). */
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Micro-dollars a month (0: none). */
  monthlyCostLimit: number;
  /** IANA name of the zone its day and month are local to ('UTC' by default). */
  timeZone: string;
  /**
   * The pool it is in (null: none): its latest agent_moved's, or its latest
   * state event's when that is newer (migration 8; events stored before it: none).
   */
  poolId?: string | null;
}

/** A pool as projected from its events (migration 8), with its spend at the instant asked for. */
export interface StoredPool {
  poolId: string;
  /** Null for a root. */
  parentId: string | null;
  rootId: string;
  /** Micro-dollars (0: none). */
  dailyCostLimit: number;
  monthlyCostLimit: number;
  /** Per minute (0: none). */
  requestsPerMinute: number;
  tokensPerMinute: number;
  timeZone: string;
  /** The at of its latest pool_created. */
  createdAt: number;
  updatedAt: number;
  /** Micro-dollars charged to it (settles and usage under it) in its local day and month. */
  dayCost: number;
  monthCost: number;
  /** The thresholds (percent, increasing) its budget_alert events fired in that day and month (absent: none). */
  dayAlerts?: number[];
  monthAlerts?: number[];
}

/** What recovery needs to rebuild an agent's counters (sums over the ledger). */
export interface AgentTotals {
  agentId: string;
  /** Micro-dollars charged on the agent's local day (its time zone's) at the instant asked for. */
  dayCost: number;
  /** Of those, micro-dollars settled above their holds' cost (the settles' overrun_cost). */
  dayOverrunCost: number;
  /** Micro-dollars charged in the agent's local month at that instant, and the overrun among them. */
  monthCost: number;
  monthOverrunCost: number;
  /** Tokens recorded in the agent's current session. */
  sessionTokens: number;
  /** Micro-dollars recorded in the current session. */
  sessionCost: number;
  /** Tokens settled above their holds in the current session (the settles' overrun_tokens). */
  sessionOverrunTokens: number;
  /** Denials in the current session. */
  sessionBlocked: number;
  /**
   * The thresholds (percent, increasing) of its own budgets' budget_alert
   * events (pool id ''): of the current session, of its local day and of its
   * local month at that instant (absent: none). Recovery restores them as the
   * alert marks.
   */
  sessionAlerts?: number[];
  dayAlerts?: number[];
  monthAlerts?: number[];
}

export interface SessionSummaryRow {
  agentId: string;
  sessionId: string;
  startedAt: number;
  endedAt: number;
  tokensUsed: number;
  cost: number;
  operationsBlocked: number;
}

/** One hour's spend of one role on a UTC day (the dashboard's chart). */
export interface HourlySpend {
  /** 0-23, UTC. */
  hour: number;
  /** The role the events carry ('' when they carry none). */
  role: string;
  /** Micro-dollars charged (settle and usage events). */
  costMicros: number;
  /** How many events charged it. */
  events: number;
}

/** What spendBy sums: a time range, a grouping, optionally one agent. */
export interface SpendQuery {
  /** ms, inclusive. */
  from: number;
  /** ms, exclusive. */
  to: number;
  groupBy: 'model' | 'role' | 'operation' | 'agent_id';
  /** Only this agent's events. */
  agentId?: string;
}

/** One group's spend (settle and usage events) over a SpendQuery's range. */
export interface SpendRow {
  /** The model, role, operation or agent id ('' when the events carry none). */
  key: string;
  /** Micro-dollars charged. */
  costMicros: number;
  inputTokens: number;
  outputTokens: number;
  /** How many events charged it. */
  events: number;
  /** Of those, settles whose usage was an estimate (a stream cut before its usage). */
  estimatedEvents: number;
}

/** A range of UTC days' spend (the dashboard's history, spend.ts `spendHistory`). */
export interface SpendHistoryQuery {
  /** UTC midnight, ms, inclusive. */
  from: number;
  /** UTC midnight, ms, exclusive. */
  to: number;
}

/** One UTC day's spend (settle and usage events), as a SpendRow of that day. */
export interface DaySpend extends Omit<SpendRow, 'key'> {
  /** The day's UTC midnight, ms. */
  day: number;
}

/** The spend of a range of UTC days, by day and over the range by role, model and operation. */
export interface SpendHistory {
  /** Days with any spend, oldest first. */
  days: DaySpend[];
  /** Over the whole range, most costly first. */
  byRole: SpendRow[];
  byModel: SpendRow[];
  byOperation: SpendRow[];
}

export interface AuditStore {
  readonly kind: 'postgres' | 'pglite';
  /** Applies the versioned migrations (idempotent). */
  migrate(): Promise<void>;
  /**
   * Stores a batch in one statement, `ON CONFLICT (event_id) DO NOTHING`, and
   * projects agents and session summaries in the same transaction. Returns how
   * many were new.
   */
  insertEvents(events: readonly AuditEvent[]): Promise<number>;
  queryEvents(filter: AuditFilter): Promise<AuditPage>;
  /** The registry, for recovery (PostgresStore: on its recovery pool, docs/store.md). */
  agents(): Promise<StoredAgent[]>;
  /**
   * Sums for recovery: each agent's cost on its day and month local to its
   * time zone at `atMs` (a UTC agent: the UTC day and month of `atMs`) and its
   * current session's (PostgresStore: on its recovery pool). `zones`: the
   * agents' zones when known (saves a second statement, totals.ts).
   */
  totals(atMs: number, zones?: Iterable<string>): Promise<AgentTotals[]>;
  /**
   * The pool registry for recovery, parents first, with each pool's spend on
   * its local day and month at `atMs` (pools.ts; PostgresStore: on its
   * recovery pool). Optional like spendBy; SqlStore and lazyStore have it.
   */
  pools?(atMs: number): Promise<StoredPool[]>;
  sessionSummaries(agentId: string): Promise<SessionSummaryRow[]>;
  /**
   * Spend of the UTC day starting at `dayStart` (ms) by hour and role, from
   * the settle and usage events (spend.ts). Optional so that wrappers written
   * before it keep compiling; SqlStore and lazyStore have it.
   */
  spendByHour?(dayStart: number): Promise<HourlySpend[]>;
  /**
   * Spend over a time range grouped by model, role, operation or agent
   * (spend.ts); most costly first. Optional like spendByHour.
   */
  spendBy?(q: SpendQuery): Promise<SpendRow[]>;
  /**
   * Spend over a range of UTC days, by day and, over the range, by role,
   * model and operation, in one statement (spend.ts). Optional like spendBy.
   */
  spendHistory?(q: SpendHistoryQuery): Promise<SpendHistory>;
  /**
   * Webhooks and their alert deliveries (webhooks.ts, src/alerts). Optional
   * like spendBy; SqlStore and lazyStore have it.
   */
  readonly webhooks?: WebhookStore;
  /**
   * The policy's versions set at runtime (policies.ts, src/policy-store).
   * Optional like webhooks; SqlStore and lazyStore have it.
   */
  readonly policies?: PolicyVersionStore;
  close(): Promise<void>;
}
