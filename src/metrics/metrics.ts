import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DRAIN_STALL_MS, isDegraded } from '../audit/drain/monitor.js';
import type { AuditWorkerStats } from '../audit/drain/worker.js';
import type { AgentSnapshot } from '../engine/types.js';
import type { Tollgate } from '../index.js';
import { type AlertDeliveryOutcome, alertDeliveryMetrics } from './alerts.js';
import { type Backlog, readBacklog } from './backlog.js';
import { backgroundMetrics, setCounter } from './drain.js';
import { httpMetrics } from './http.js';
import { type ModelCallObservation, modelSpendMetrics } from './model-spend.js';
import { perAgentGauges } from './per-agent.js';
import { type PoolDenialObservation, poolMetrics } from './pools.js';
import { processMetrics } from './process.js';
import { shardRecoveryMetrics } from './recoveries.js';
import { roleSpendMetrics, type SpendObservation } from './spend.js';
import { within } from './within.js';

/**
 * Prometheus metrics of one API app (docs/metrics.md). Every app gets its own
 * Registry: nothing goes to prom-client's global default registry, so two
 * apps in one process (tests, or a library embedding two gates) never share
 * or clash on a series.
 *
 * Three kinds of source:
 * - counted as requests are served: decisions (by outcome, code and role),
 *   decision latency, spend and tokens by role (spend.ts) and by model
 *   (model-spend.ts), HTTP requests by route pattern and status, 503
 *   STORE_UNAVAILABLE answers (http.ts); alert deliveries, counted by the
 *   code that delivers them (alerts.ts);
 * - read once per scrape, each within `scrapeTimeoutMs`: the fleet from
 *   `engine.listAgents()` (one script per shard, as the dashboard reads it),
 *   the outbox backlog per shard (backlog.ts: `outboxLag` on Redis, the
 *   MemoryEngine's outbox in embedded mode), the pools from
 *   `engine.listPools()` (pools.ts);
 * - the in-process drain's and background sweep's counters (`tg.drain` and
 *   `tg.sweep` in embedded mode, or an in-process audit worker's `stats()`
 *   when one is given; drain.ts).
 *
 * No label takes an agent id unless `perAgentMetrics` is on; role labels are
 * the roles the policy in force names (it may change at runtime), any other
 * role is `other`, so the number of series is bounded by the policies, not by
 * what agents were registered.
 */

export interface MetricsOptions {
  tollgate: Tollgate;
  /**
   * Per-agent gauges (label `agent_id`), rebuilt on each scrape from
   * `listAgents()`: about 8 series per agent. Default false.
   */
  perAgentMetrics?: boolean;
  /**
   * Node.js process metrics (`process_*`, `nodejs_*`) in the same registry,
   * without prom-client's `nodejs_active_*_total` gauges (process.ts). Default true.
   */
  defaultMetrics?: boolean;
  /**
   * Pools with series (pools.ts: about 10 gauges and up to 4 denial counters
   * each), roots first, then by id; 0: no pool metrics. Default 1 000.
   */
  maxPools?: number;
  /** How long a scrape waits for each source (agents, outbox, pools) before leaving it out. Default 2 000 ms. */
  scrapeTimeoutMs?: number;
  /** An audit worker running in this process (`serve --with-worker`): its counters become the drain metrics. */
  worker?: { stats(): AuditWorkerStats };
}

/**
 * One answered authorize, as the gate route saw it. A denial's `level`,
 * `exceeded` and `period` (the wire decision's) count pool denials (pools.ts).
 */
export interface DecisionObservation extends PoolDenialObservation {
  allowed: boolean;
  /** The denial code; null when allowed. */
  code: string | null;
  /** The agent's role; null when there is no agent (AGENT_NOT_FOUND). */
  role: string | null;
  /** An allowed replay of a request id: nothing new was decided. */
  replayed: boolean;
  /**
   * Shadow mode: the code the rules would have denied with, the operation
   * being allowed (`allowed: true`). Counted as outcome `would_deny` with
   * that code. Undefined or null: not a shadow decision.
   */
  wouldDeny?: string | null;
}

/** The `outcome` label of tollgate_decisions_total. */
export const DECISION_OUTCOMES = ['allowed', 'denied', 'would_deny'] as const;
export type DecisionOutcome = (typeof DECISION_OUTCOMES)[number];

/** One recorded settle, as the settle route saw it. */
export interface SettleObservation {
  /** The agent's role (from its budget status). */
  role: string;
  /** Tokens used above the hold's estimate (0 within it). */
  overrunTokens: number;
  /** Micro-dollars above the hold's cost (0 within it). */
  overrunMicros: number;
}

/** What the route table needs: one call per answered authorize (and per recorded settle). */
export interface DecisionRecorder {
  decision(d: DecisionObservation, seconds: number): void;
  /** A settle recorded (not a replay): counts its overrun. */
  settled?(s: SettleObservation): void;
  /** A metered model call settled (not a replay): its cost and tokens by model. */
  modelCall?(c: ModelCallObservation): void;
  /** Usage recorded (a settle or a usage without a hold; not a replay): its cost and tokens by role. */
  spent?(s: SpendObservation): void;
}

export interface Metrics extends DecisionRecorder {
  settled(s: SettleObservation): void;
  /**
   * A metered model call settled (not a replay): its cost and tokens by model
   * (tollgate_model_spend_usd_total, tollgate_model_tokens_total; model-spend.ts).
   */
  modelCall(c: ModelCallObservation): void;
  /** Usage recorded (not a replay): tollgate_role_spend_usd_total, tollgate_role_tokens_total (spend.ts). */
  spent(s: SpendObservation): void;
  /**
   * An alert delivery attempt ended (tollgate_alert_deliveries_total, alerts.ts):
   * `n` attempts (default 1) with this outcome.
   */
  alertDelivery(outcome: AlertDeliveryOutcome, n?: number): void;
  readonly registry: Registry;
  /** The Content-Type of `scrape()`'s text. */
  readonly contentType: string;
  /** Express middleware counting every request by route pattern and status; mount it first. */
  readonly http: RequestHandler;
  /** Reads the per-scrape sources, then renders the registry (text exposition format). */
  scrape(): Promise<string>;
}

/** Decision latency: the engine's round trip, 0.1 ms to 50 ms and a little beyond. */
export const DECISION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
] as const;
/** The role label of a decision without an agent. */
export const NO_ROLE = 'none';
/** The role label of a role the policy does not name. */
export const OTHER_ROLE = 'other';

const USD = 1_000_000;

export function createMetrics(options: MetricsOptions): Metrics {
  const { tollgate } = options;
  const perAgent = options.perAgentMetrics === true;
  const scrapeTimeoutMs = options.scrapeTimeoutMs ?? 2_000;
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics !== false) processMetrics(registry);

  // The roles of the policy in force now (`tollgate.policy` answers from the
  // version in force: src/policy-store/live.ts), so a role added at runtime is
  // its own label at once, and one taken away is `other` again. Each Policy's
  // role list is one frozen array: the set is rebuilt only when it changes.
  let rolesOf: readonly string[] | undefined;
  let known: ReadonlySet<string> = new Set();
  const knownRoles = (): ReadonlySet<string> => {
    const roles = tollgate.policy.knownRoles();
    if (roles !== rolesOf) {
      rolesOf = roles;
      known = new Set(roles);
    }
    return known;
  };
  const roleLabel = (role: string | null): string =>
    role === null ? NO_ROLE : knownRoles().has(role) ? role : OTHER_ROLE;

  // Counted as requests are served.
  const decisions = new Counter({
    name: 'tollgate_decisions_total',
    help: 'Authorize decisions answered by this process, by outcome (allowed; denied; would_deny: allowed by shadow mode, denied by the rules), code (the denial’s, or the one shadow mode let pass; none when allowed) and role.',
    labelNames: ['outcome', 'code', 'role'] as const,
    registers,
  });
  const replays = new Counter({
    name: 'tollgate_decision_replays_total',
    help: 'Authorize calls answered with an earlier hold (a request_id seen before): nothing new decided or held.',
    labelNames: ['role'] as const,
    registers,
  });
  const decisionSeconds = new Histogram({
    name: 'tollgate_decision_duration_seconds',
    help: 'Time the engine took to decide an authorize (one atomic round trip), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [...DECISION_BUCKETS],
    registers,
  });
  const overrunTokens = new Counter({
    name: 'tollgate_overrun_tokens_total',
    help: 'Tokens settled above their holds’ estimates (usage past the estimate: recorded, never refused), by role.',
    labelNames: ['role'] as const,
    registers,
  });
  const overrunCost = new Counter({
    name: 'tollgate_overrun_cost_usd_total',
    help: 'Cost (USD) settled above their holds’ cost, by role.',
    labelNames: ['role'] as const,
    registers,
  });

  // Read on each scrape.
  const sourceUp = new Gauge({
    name: 'tollgate_metrics_source_up',
    help: 'Whether the last scrape could read a source (agents: listAgents; pools: listPools; outbox: the backlog; drain: the in-process drain’s counters): 1 yes, 0 no (agents, pools, outbox: their gauges are left out; drain: its counters keep their last values).',
    labelNames: ['source'] as const,
    registers,
  });
  const agents = new Gauge({
    name: 'tollgate_agents',
    help: 'Registered agents, by role and status (active, suspended).',
    labelNames: ['role', 'status'] as const,
    registers,
  });
  const reservedTokens = new Gauge({
    name: 'tollgate_reserved_tokens',
    help: 'Tokens held by open reservations in the agents’ current sessions, by role.',
    labelNames: ['role'] as const,
    registers,
  });
  const reservedCost = new Gauge({
    name: 'tollgate_reserved_cost_usd',
    help: 'Cost (USD) held by open reservations against the daily budgets, by role.',
    labelNames: ['role'] as const,
    registers,
  });
  const outboxBacklog = new Gauge({
    name: 'tollgate_outbox_backlog',
    help: 'Audit events decided but not yet in the durable store, per shard (Redis mode: outbox entries, one per script call, each holding one or more events).',
    labelNames: ['shard'] as const,
    registers,
  });
  const outboxPending = new Gauge({
    name: 'tollgate_outbox_pending',
    help: 'Audit events read by a drain and not yet acknowledged, per shard (Redis mode).',
    labelNames: ['shard'] as const,
    registers,
  });
  const outboxAge = new Gauge({
    name: 'tollgate_outbox_oldest_age_seconds',
    help: 'Age of the oldest undrained audit event, per shard (0 when none): the drain lag.',
    labelNames: ['shard'] as const,
    registers,
  });
  const outboxDead = new Gauge({
    name: 'tollgate_outbox_dead_letters',
    help: 'Outbox events that could not be stored (dead letters), per shard (Redis mode).',
    labelNames: ['shard'] as const,
    registers,
  });
  const drainDegraded = new Gauge({
    name: 'tollgate_outbox_degraded',
    help: `Whether the shard's audit drain is degraded, per shard: 1 when its oldest undrained event is ${DRAIN_STALL_MS / 1000} s old or more (the drain stopped, fails, or is that far behind), else 0.`,
    labelNames: ['shard'] as const,
    registers,
  });

  const agentGauges = perAgent ? perAgentGauges(registers) : undefined;
  const modelCall = modelSpendMetrics(registers, () => tollgate.policy.prices);
  const spend = roleSpendMetrics(registers, roleLabel);
  spend.present(knownRoles());
  const alertDelivery = alertDeliveryMetrics(registers);
  const http = httpMetrics(registers);

  const pools = poolMetrics(registers, sourceUp, {
    engine: tollgate.engine,
    maxPools: options.maxPools,
    timeoutMs: scrapeTimeoutMs,
  });

  const readRecoveries = shardRecoveryMetrics(registers, tollgate.engine);
  const background = backgroundMetrics(registers, {
    drain: tollgate.drain,
    worker: options.worker,
    sweep: tollgate.sweep,
  });

  const readAgents = async () => {
    let list: AgentSnapshot[] | undefined;
    try {
      list = await within(tollgate.engine.listAgents(), scrapeTimeoutMs);
    } catch {
      list = undefined;
    }
    agents.reset();
    reservedTokens.reset();
    reservedCost.reset();
    agentGauges?.reset();
    sourceUp.set({ source: 'agents' }, list === undefined ? 0 : 1);
    if (list === undefined) return;
    // Every role the policy names appears, at 0 when it has no agent.
    for (const role of knownRoles()) {
      agents.set({ role, status: 'active' }, 0);
      agents.set({ role, status: 'suspended' }, 0);
      reservedTokens.set({ role }, 0);
      reservedCost.set({ role }, 0);
    }
    for (const { status: s } of list) {
      const role = roleLabel(s.role);
      agents.inc({ role, status: s.status });
      reservedTokens.inc({ role }, s.sessionTokensReserved);
      reservedCost.inc({ role }, s.dailyReservedMicros / USD);
      agentGauges?.set(s, role);
    }
  };

  const leasesFreed = new Counter({
    name: 'tollgate_expired_leases_freed_total',
    help: "Holds freed because their lease passed (their worker died), over the whole store (read from the engine on scrape: the shards' counters in Redis, or the in-process engine).",
    registers,
  });
  const readLeases = async () => {
    try {
      setCounter(leasesFreed, await within(tollgate.engine.expiredLeasesFreed(), scrapeTimeoutMs));
      sourceUp.set({ source: 'leases' }, 1);
    } catch {
      sourceUp.set({ source: 'leases' }, 0);
    }
  };

  const readOutbox = async () => {
    let lag: Backlog | undefined;
    try {
      lag = await within(readBacklog(tollgate), scrapeTimeoutMs);
    } catch {
      lag = undefined;
    }
    for (const g of [outboxBacklog, outboxPending, outboxAge, outboxDead, drainDegraded]) {
      g.reset();
    }
    sourceUp.set({ source: 'outbox' }, lag === undefined ? 0 : 1);
    if (lag === undefined) return;
    for (const s of lag.shards) {
      const l = { shard: String(s.shard) };
      outboxBacklog.set(l, s.backlog);
      outboxPending.set(l, s.pending);
      outboxAge.set(l, s.oldestAgeMs / 1000);
      outboxDead.set(l, s.deadLetters);
      drainDegraded.set(l, isDegraded(s) ? 1 : 0);
    }
  };

  // Concurrent scrapes share one read of the sources.
  let reading: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    reading ??= (async () => {
      spend.present(knownRoles());
      background.readSweep();
      readRecoveries();
      if (background.hasDrain) {
        try {
          background.readDrain();
          sourceUp.set({ source: 'drain' }, 1);
        } catch {
          sourceUp.set({ source: 'drain' }, 0);
        }
      }
      await Promise.all([readAgents(), pools.read(), readOutbox(), readLeases()]);
    })().finally(() => {
      reading = undefined;
    });
    return reading;
  };

  return {
    registry,
    contentType: registry.contentType,
    http,
    decision(d, seconds) {
      const shadow = d.allowed && typeof d.wouldDeny === 'string' ? d.wouldDeny : undefined;
      const outcome: DecisionOutcome =
        shadow !== undefined ? 'would_deny' : d.allowed ? 'allowed' : 'denied';
      const role = roleLabel(d.role);
      decisionSeconds.observe({ outcome }, seconds);
      if (d.replayed) replays.inc({ role });
      else decisions.inc({ outcome, code: shadow ?? d.code ?? 'none', role });
      if (outcome === 'denied' && !d.replayed) pools.denied(d);
    },
    settled(s) {
      const role = roleLabel(s.role);
      // Every settle counts (0 within the hold), so each role's series exists once it settles.
      overrunTokens.inc({ role }, Math.max(0, s.overrunTokens));
      overrunCost.inc({ role }, Math.max(0, s.overrunMicros) / USD);
    },
    modelCall,
    spent: spend.spent,
    alertDelivery,
    async scrape() {
      await refresh();
      return registry.metrics();
    },
  };
}
