import {
  type AlertDelivery,
  type AlertOptions,
  startEmbeddedAlerts,
  withAlerts,
} from './alerts/index.js';
import {
  type EmbeddedDrain,
  restoreFromStore,
  startEmbeddedDrain,
} from './audit/embedded/index.js';
import { storeRecovery } from './audit/recovery/index.js';
import type { AuditStore, StoreOptions } from './audit/store/index.js';
import { type SweepTimer, startSweepTimer } from './audit/sweep.js';
import { Budget, Pools, syncPolicyPools } from './budget/index.js';
import {
  type Actor,
  createEngine,
  type Engine,
  type EngineOptions,
  MemoryEngine,
  RedisEngine,
} from './engine/index.js';
import { Guard } from './guard/index.js';
import { Identity } from './identity/index.js';
import { openLockedStore } from './lock/index.js';
import { createMeteredFetch, guardGate, lazyTokenCounter } from './meter/index.js';
import { createPolicy, loadPolicy, type Policy } from './policy/index.js';
import { livePolicy, PolicyRuntime, type PolicySource } from './policy-store/index.js';

export interface TollgateOptions extends EngineOptions {
  /** A Policy, a path to a policy file (JSON or YAML), or a policy document; none: the defaults. */
  policy?: Policy | string | Record<string, unknown>;
  /** A ready engine (overrides `redis`). */
  engine?: Engine;
  /** Who the audit trail names for calls made through this instance. Default 'library'. */
  actor?: Actor;
  /**
   * The durable store (an AuditStore, or where to open one: PostgreSQL by URL,
   * else PGlite in a folder), exposed as `tg.store` for reading the ledger.
   * Embedded mode: the engine is restored from it before anything is decided,
   * and an in-process drain moves every event into it. None (embedded):
   * nothing is kept across a restart. With Redis, the worker writes it, and
   * a shard that lost its data is restored from it (docs/recovery.md).
   * A PGlite folder opened here is locked (`<dataDir>/tollgate.lock`): a
   * second owner, in this process or another, gets FolderLockedError.
   */
  store?: AuditStore | StoreOptions;
  /** The embedded drain's pace (default every 200 ms, batches of 1,000). */
  drain?: { intervalMs?: number; batch?: number };
  /**
   * The in-process engine (MemoryEngine): the background sweep that frees
   * holds whose lease passed on agents no call touches, on an unref'd timer
   * (default every 30 s); false: none. In Redis mode the audit worker sweeps.
   */
  sweep?: { everyMs?: number } | false;
  /**
   * Embedded mode with a store: budget alerts to webhooks, queued and sent in
   * process (attempts, backoff, time limit: docs/operations.md); false: none.
   * In Redis mode the audit worker sends them.
   */
  alerts?: AlertOptions | false;
  /**
   * The policy versions set at runtime and kept in the store (docs/policy.md,
   * "Changing the policy at runtime"): the newest one is read at startup and
   * wins over `policy` (with an engine other processes share, waiting at most
   * `startupWaitMs`, default 2 000: then the poll applies it), and such a
   * process reads the newest version every `pollMs` (default 1 000), so that a
   * change made through another process applies here within about that.
   * false: none is read (the policy given stays in force; a change made
   * through this Tollgate is still stored).
   */
  storedPolicy?: false | { pollMs?: number; startupWaitMs?: number };
}

export interface Tollgate {
  readonly engine: Engine;
  /** The policy in force: every lookup answers from the version current now (src/policy-store/live.ts). */
  readonly policy: Policy;
  /**
   * The policy changed at runtime: `get()` (the version in force, who set it
   * and when), `set(doc, {actor})`, `setRole(role, entry)`, `check(doc)`
   * (docs/policy.md, "Changing the policy at runtime").
   */
  readonly policies: PolicyRuntime;
  readonly identity: Identity;
  readonly budget: Budget;
  readonly guard: Guard;
  /** Pools: shared budgets the agents join explicitly (docs/limits.md, "Pools"). */
  readonly pools: Pools;
  /** The durable store, when one was given. */
  readonly store?: AuditStore;
  /** Embedded mode with a store: the budget alerts' deliveries to webhooks (src/alerts). */
  readonly alerts?: AlertDelivery;
  /** Embedded mode with a store: the in-process drain (its stats show the backlog). */
  readonly drain?: EmbeddedDrain;
  /** Embedded mode (MemoryEngine): the background sweep's timer (its stats count the holds freed). */
  readonly sweep?: SweepTimer;
  /**
   * A `fetch` for `new OpenAI({ fetch })` or `new Anthropic({ fetch })` that
   * meters the agent's model calls (docs/models.md, "The fetch and the
   * gateway"): each call is held from its request and settled from its usage.
   */
  fetch(options: ModelFetchOptions): typeof globalThis.fetch;
  /** Stops the sweep and the drain (after a last flush), closes a store it opened, then the engine. */
  close(): Promise<void>;
}

export interface ModelFetchOptions {
  /** The agent whose budget pays for the calls. */
  agentId: string;
  /** The fetch that reaches the provider (default: the global fetch). */
  fetch?: typeof globalThis.fetch;
  /** A settle that failed after the provider answered (default: console.error). */
  onError?: (error: unknown) => void;
}

function isStore(s: AuditStore | StoreOptions): s is AuditStore {
  return typeof (s as AuditStore).insertEvents === 'function';
}

function isPolicy(p: unknown): p is Policy {
  return typeof p === 'object' && p !== null && 'rolesAllowed' in p && 'rates' in p;
}

function sourceOf(p: TollgateOptions['policy']): Exclude<PolicySource, 'runtime'> {
  if (p === undefined) return 'defaults';
  return typeof p === 'string' ? 'file' : 'options';
}

async function resolvePolicy(p: TollgateOptions['policy']): Promise<Policy> {
  if (p === undefined) return createPolicy();
  if (typeof p === 'string') return loadPolicy(p);
  if (isPolicy(p)) return p;
  return createPolicy(p, 'options.policy');
}

/**
 * The one place that wires Tollgate (ARCHITECTURE.md): a Redis URL, client or
 * Cluster gives RedisEngine; none gives the in-process MemoryEngine. The
 * package's root (src/index.ts) exports it with the public names.
 */
export async function createTollgate(opts: TollgateOptions = {}): Promise<Tollgate> {
  // One Policy object for every part, answering from the version in force (src/policy-store).
  const live = livePolicy(await resolvePolicy(opts.policy));
  const policy = live.policy;
  const engine = opts.engine ?? (await createEngine(opts));
  if (engine instanceof RedisEngine && opts.warn) engine.configureRecovery({ warn: opts.warn });
  const actor = opts.actor ?? ('library' as Actor);
  const deps = { engine, policy, actor };
  const durable = await attachStore(engine, opts);
  const shared = !(engine instanceof MemoryEngine);
  const policies = new PolicyRuntime({
    engine,
    live,
    ...(durable ? { store: durable.store } : {}),
    shared,
    actor,
    source: sourceOf(opts.policy),
    ...(typeof opts.policy === 'string' ? { file: opts.policy } : {}),
    warn: opts.warn ?? ((m) => console.warn(m)),
  });
  try {
    // A policy version stored at runtime wins over the file (docs/policy.md).
    if (opts.storedPolicy !== false) await policies.load(opts.storedPolicy?.startupWaitMs);
    // The policy's pools, once the engine holds what the store restored (docs/policy.md, "Pools").
    await syncPolicyPools(engine, policy.pools, 'system');
  } catch (e) {
    try {
      await durable?.close();
    } finally {
      if (opts.engine === undefined) await engine.close();
    }
    throw e;
  }
  // Processes sharing the engine read the store's newest version every second (docs/policy.md).
  if (shared && opts.storedPolicy !== false) {
    policies.startPolling(opts.storedPolicy?.pollMs ?? 1_000);
  }
  const sweep =
    engine instanceof MemoryEngine && opts.sweep !== false
      ? startSweepTimer(engine, { everyMs: opts.sweep?.everyMs })
      : undefined;
  const guard = new Guard(deps);
  const counter = lazyTokenCounter();
  return {
    engine,
    policy,
    policies,
    identity: new Identity(deps),
    budget: new Budget(deps),
    guard,
    pools: new Pools(deps),
    store: durable?.store,
    drain: durable?.drain,
    alerts: durable?.alerts,
    sweep,
    fetch: (o) =>
      createMeteredFetch({
        gate: guardGate(guard, o.agentId),
        counter,
        fetch: o.fetch,
        onError: o.onError,
      }),
    close: async () => {
      try {
        await policies.close();
        await sweep?.stop();
        await durable?.close();
      } finally {
        await engine.close();
      }
    },
  };
}

/**
 * The durable store, when given: opened if need be and exposed for reads.
 * Embedded mode: restore the engine from it, then drain the outbox into it
 * (ARCHITECTURE.md, rules 'Redis decides; the store remembers and restores' and
 * 'Embedded by default').
 */
async function attachStore(
  engine: Engine,
  opts: TollgateOptions,
): Promise<
  | { store: AuditStore; drain?: EmbeddedDrain; alerts?: AlertDelivery; close(): Promise<void> }
  | undefined
> {
  if (opts.store === undefined) return undefined;
  const owned = !isStore(opts.store);
  const store = isStore(opts.store) ? opts.store : await openLockedStore(opts.store);
  const closeStore = async () => {
    if (owned) await store.close();
  };
  if (engine instanceof RedisEngine) {
    engine.configureRecovery({ source: storeRecovery(store, { shards: engine.shards }) });
  }
  if (!(engine instanceof MemoryEngine)) return { store, close: closeStore };
  try {
    await restoreFromStore(engine, store);
  } catch (e) {
    await closeStore();
    throw e;
  }
  // Budget alerts to webhooks, queued as the drain stores them, sent in process (src/alerts).
  let alerts: AlertDelivery | undefined;
  try {
    alerts =
      opts.alerts === false || store.webhooks === undefined
        ? undefined
        : await startEmbeddedAlerts(store, opts.alerts);
  } catch (e) {
    await closeStore();
    throw e;
  }
  const drain = startEmbeddedDrain({
    engine,
    store: alerts ? withAlerts(store, alerts) : store,
    ...opts.drain,
  });
  return {
    store,
    drain,
    ...(alerts ? { alerts } : {}),
    close: async () => {
      await drain.stop();
      try {
        await drain.flush();
      } finally {
        await alerts?.close();
        await closeStore();
      }
    },
  };
}
