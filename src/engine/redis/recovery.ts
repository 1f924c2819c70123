import type { Cluster, Redis } from 'ioredis';
import { TollgateError } from '../../errors.js';
import { DAY_MS } from '../clock.js';
import { Code, unexpected } from '../codes.js';
import { checkAgentId, checkCount, checkRole, parseScopedId } from '../ids.js';
import { agentKeys, indexKey, shardOf, shardTag } from '../keys.js';
import type { EngineSnapshot, RestoredAgent } from '../memory/index.js';
import { checkAlerts } from '../memory/restore.js';
import { agentZone } from '../periods.js';
import type { RandomPool } from '../random.js';
import { checkPerMinute, MAX_LIMIT } from '../validate.js';
import { poolPlan, restoreDirectory, restoreHierarchies } from './recovery-pools.js';
import type { Scripts } from './scripts.js';
import { storeErrors } from './store-errors.js';

/**
 * Recovery in Redis mode (ARCHITECTURE.md, rule 'Redis decides; the store
 * remembers and restores'; docs/recovery.md). Each shard has a
 * ready marker, `tg:{s<n>}:ready`, set once the shard was restored from the
 * durable store. A script that finds no agent (and registerAgent, before it
 * creates one) checks it; with no marker it answers SHARD_NOT_READY and the
 * engine restores the shard here, then calls again. Nothing is read on a path
 * that decides for an existing agent.
 */
export function readyKey(shard: number): string {
  return `${shardTag(shard)}ready`;
}

/** The shard's recovery lock: one process restores a shard at a time. */
export function recoveryLockKey(shard: number): string {
  return `${shardTag(shard)}recovering`;
}

/** Where a shard that lost its data is restored from: the durable store (src/audit/recovery). */
export interface RecoverySource {
  /**
   * The agents of `shard` as the store has them, with their current
   * sessions' counters and their spend on the UTC day of `nowMs` (Redis time,
   * with the engine's test offset), and the pools (every one: the shard keeps
   * the hierarchies rooted on it and the pool directory of its ids). Agents
   * that neither live on the shard nor have it as home are ignored.
   */
  load(shard: number, nowMs: number): Promise<EngineSnapshot>;
}

export interface RecoveryOptions {
  /** None: a shard without a marker is marked ready with nothing restored (and a warning, once). */
  source?: RecoverySource;
  /** Where recovery warnings go. Default console.warn. */
  warn?: (message: string) => void;
  /** Lease of a shard's recovery lock (a process that dies mid-recovery frees it after this). Default 30 s. */
  lockMs?: number;
  /** How long a call waits for another process's recovery of its shard before failing. Default 35 s. */
  waitMs?: number;
  /** How long reading the source may take before the recovery fails (and is retried by a later call). Default 20 s. */
  loadTimeoutMs?: number;
}

export interface ShardRecovery {
  shard: number;
  /**
   * `ready`: the shard was ready (another process restored it, or it was never lost);
   * `restored`: restored from the source by this process;
   * `unrestored`: no source: marked ready with nothing restored.
   */
  outcome: 'ready' | 'restored' | 'unrestored';
  /** Agents written. */
  restored: number;
  /** Pool hierarchies written (those rooted on the shard). */
  hierarchies?: number;
  /** Agents of the snapshot that Redis had already (restored by another process, or never lost). */
  existing: number;
  /** Agents of the snapshot refused as malformed (with a warning), by id. */
  invalid: string[];
  /** The UTC day whose spend was restored. */
  dayStartMs?: number;
  /** When this process found the shard without its marker (ms, process clock). */
  atMs?: number;
}

/** The last shard recoveries this process made, kept for /readyz and the metrics. */
const HISTORY = 64;

const DIGEST = /^[0-9a-f]{64}$/;
const MAX_METADATA = 16_384;
/** restoreAgent calls in flight at once. */
const RESTORE_CHUNK = 256;
const POLL_MS = 50;

/** Why a snapshot agent cannot be restored, or undefined when it can. */
export function invalidAgent(
  a: RestoredAgent,
  shard: number,
  shards: number,
  /** The shard it lives on (an agent in a pool: its root's; default its home). */
  live?: number,
): string | undefined {
  try {
    checkAgentId(a.agentId);
    if ((live ?? shardOf(a.agentId, shards)) !== shard) return 'belongs to another shard';
    checkRole(a.role);
    if (a.status !== 'active' && a.status !== 'suspended') return 'bad status';
    if (parseScopedId(a.sessionId, 'session_id').agentId !== a.agentId) {
      return 'session id of another agent';
    }
    checkCount(a.sessionTokenLimit, 'session_token_limit', MAX_LIMIT);
    checkCount(a.dailyLimitMicros, 'daily_cost_limit', MAX_LIMIT);
    checkPerMinute(a);
    agentZone(a.timeZone, Date.now());
    if (typeof a.keyDigest !== 'string' || !DIGEST.test(a.keyDigest)) return 'bad key digest';
    if (typeof a.metadata !== 'string' || a.metadata.length > MAX_METADATA) return 'bad metadata';
    checkAlerts(a);
    for (const [what, v] of [
      ['session_started_at', a.sessionStartedMs],
      ['created_at', a.createdMs],
      ['session_tokens_used', a.sessionTokensUsed],
      ['session_cost', a.sessionCostMicros],
      ['operations_blocked', a.operationsBlocked],
      ['daily_cost', a.dailyCostMicros],
      ['session_overrun_tokens', a.sessionOverrunTokens ?? 0],
      ['daily_overrun', a.dailyOverrunMicros ?? 0],
    ] as const) {
      checkCount(v, what, Number.MAX_SAFE_INTEGER);
    }
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Restores shards on demand, at most once at a time per shard in this
 * process (concurrent callers share one promise); across processes the
 * shard's recovery lock lets one restore while the others wait for the marker.
 */
export class ShardRecoverer {
  private readonly inFlight = new Map<number, Promise<ShardRecovery>>();
  private readonly listeners = new Set<(r: ShardRecovery) => void>();
  private source: RecoverySource | undefined;
  private warn: (message: string) => void;
  private readonly lockMs: number;
  private readonly waitMs: number;
  private readonly loadTimeoutMs: number;
  /** Every time this process found a shard without its ready marker (newest last, bounded). */
  readonly history: ShardRecovery[] = [];
  /** How many times, since the start (the history is bounded). */
  wipes = 0;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly scripts: Scripts,
    private readonly shards: number,
    private readonly offset: () => number,
    private readonly rnd: RandomPool,
    opts: RecoveryOptions = {},
  ) {
    this.source = opts.source;
    this.warn = opts.warn ?? console.warn;
    this.lockMs = opts.lockMs ?? 30_000;
    this.waitMs = opts.waitMs ?? 35_000;
    this.loadTimeoutMs = opts.loadTimeoutMs ?? 20_000;
  }

  configure(opts: { source?: RecoverySource; warn?: (message: string) => void }): void {
    if ('source' in opts) this.source = opts.source;
    if (opts.warn !== undefined) this.warn = opts.warn;
  }

  /** Told of each recovery this process made (a shard found without its marker); returns the unsubscribe. */
  onRecovery(listener: (r: ShardRecovery) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Restores `shard` unless it is ready; shared by every caller in this process while it runs. */
  ensure(shard: number): Promise<ShardRecovery> {
    let p = this.inFlight.get(shard);
    if (p === undefined) {
      p = this.run(shard)
        .then((r) => {
          if (r.outcome !== 'ready') this.notify(r);
          return r;
        })
        .finally(() => this.inFlight.delete(shard));
      this.inFlight.set(shard, p);
    }
    return p;
  }

  /** A listener that throws is not the recovery's problem: the call that recovered goes on. */
  private notify(r: ShardRecovery): void {
    for (const listener of this.listeners) {
      try {
        listener(r);
      } catch (e) {
        this.warn(`tollgate: a recovery listener failed: ${message(e)}`);
      }
    }
  }

  private async run(shard: number): Promise<ShardRecovery> {
    const source = this.source;
    if (source === undefined) return this.markWithoutSource(shard);
    const keys: [string, string] = [readyKey(shard), recoveryLockKey(shard)];
    const token = this.rnd.nonce();
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const [code, nowMs] = await storeErrors(
        this.scripts.run('beginRecovery', keys, [this.offset(), token, this.lockMs]),
      );
      if (code === Code.SHARD_READY) {
        return { shard, outcome: 'ready', restored: 0, existing: 0, invalid: [] };
      }
      if (code === Code.OK) return this.restore(shard, source, Number(nowMs), token);
      if (code !== Code.RECOVERY_BUSY) {
        throw unexpected('beginRecovery', code);
      }
      if (Date.now() >= deadline) {
        throw new TollgateError(
          'STORE_UNAVAILABLE',
          `Shard ${shard} is being restored by another process; try again`,
          { shard },
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** Remembers (and logs) that this process found `r.shard` without its marker. */
  private found(r: ShardRecovery): ShardRecovery {
    r.atMs = Date.now();
    this.wipes++;
    this.history.push(r);
    if (this.history.length > HISTORY) this.history.shift();
    return r;
  }

  /** No store to restore from: mark the shard ready (a new deployment, or lost data), warning each time. */
  private async markWithoutSource(shard: number): Promise<ShardRecovery> {
    // A plain SET NX (no script): the marker's value is information only.
    const set = await storeErrors(this.client.set(readyKey(shard), `${Date.now()} none 0`, 'NX'));
    if (set === null) return { shard, outcome: 'ready', restored: 0, existing: 0, invalid: [] };
    this.warn(
      `tollgate: Redis shard ${shard} had no ready marker and no durable store is configured, ` +
        'so nothing was restored: fine for a new deployment; if Redis lost its data, the agents ' +
        'and spend of this shard are gone (give Tollgate the store so that recovery can restore them)',
    );
    return this.found({ shard, outcome: 'unrestored', restored: 0, existing: 0, invalid: [] });
  }

  private async restore(
    shard: number,
    source: RecoverySource,
    nowMs: number,
    token: string,
  ): Promise<ShardRecovery> {
    const lock: [string, string] = [readyKey(shard), recoveryLockKey(shard)];
    const result: ShardRecovery = {
      shard,
      outcome: 'restored',
      restored: 0,
      existing: 0,
      invalid: [],
    };
    let done = false;
    try {
      let snap: EngineSnapshot;
      try {
        snap = await withTimeout(source.load(shard, nowMs), this.loadTimeoutMs);
      } catch (e) {
        throw new TollgateError(
          'STORE_UNAVAILABLE',
          `Redis shard ${shard} lost its data and the durable store could not be read to restore it`,
          { shard, cause: message(e) },
        );
      }
      const dayStart = snap.dayStartMs;
      if (!Number.isSafeInteger(dayStart) || dayStart % DAY_MS !== 0) {
        throw new TollgateError('INTERNAL', 'Recovery snapshot: dayStartMs is not a UTC midnight');
      }
      result.dayStartMs = dayStart;
      const at = snap.atMs ?? dayStart;
      // Pools first (docs/recovery.md, "What is restored"): the hierarchies rooted here.
      const plan = poolPlan(snap, shard, this.shards, this.warn);
      const pools = await restoreHierarchies(this.scripts, plan, readyKey(shard), at, this.offset);
      result.hierarchies = pools.written;
      let overtaken = pools.overtaken;
      // The agents that live here: plain ones at home, those in pools rooted here.
      const agents: { a: RestoredAgent; chain: string }[] = [];
      for (const a of snap.agents) {
        const live = plan.place(a);
        if (live.shard !== shard) continue;
        const why = invalidAgent(a, shard, this.shards, live.shard);
        if (why === undefined) {
          agents.push({ a, chain: live.chain });
          continue;
        }
        // A malformed row cannot hold the shard back: skipped, and said.
        result.invalid.push(String(a.agentId));
        this.warn(`tollgate: recovery of shard ${shard}: agent ${a.agentId} not restored: ${why}`);
      }
      for (let i = 0; i < agents.length && !overtaken; i += RESTORE_CHUNK) {
        const codes = await storeErrors(
          Promise.all(
            agents
              .slice(i, i + RESTORE_CHUNK)
              .map(({ a, chain }) => this.restoreOne(shard, a, at, chain)),
          ),
        );
        for (const c of codes) {
          if (c === Code.OK) result.restored++;
          else if (c === Code.CONFLICT) result.existing++;
          else if (c === Code.SHARD_READY) overtaken = true;
          else throw unexpected('restoreAgent', c);
        }
      }
      // The directory entries kept here: its agents living elsewhere, its pool ids' roots.
      if (!overtaken) overtaken = await restoreDirectory(this.scripts, plan, shard, this.offset);
      done = true;
      if (overtaken) result.outcome = 'ready';
    } finally {
      // Set the marker only when every agent is back; free the lock either way.
      await storeErrors(
        this.scripts.run('endRecovery', lock, [
          this.offset(),
          token,
          done ? '1' : '0',
          `store ${result.restored}`,
        ]),
      ).catch((e) => {
        if (done) throw e;
      });
    }
    if (result.outcome === 'ready') return result;
    // Nothing restored: the store has nothing of this shard (a new deployment, most
    // likely): counted (/readyz, metrics), not warned about.
    if (result.restored === 0) return this.found(result);
    this.warn(
      `tollgate: Redis shard ${shard} had no ready marker (a new deployment, or Redis lost its ` +
        `data): restored ${result.restored} agent(s) from the durable store` +
        (result.restored > 0 ? ' (holds in flight and undrained events are not recoverable)' : ''),
    );
    return this.found(result);
  }

  /** One agent on `shard` (where it lives), its spend and alerts of `at`'s periods, in `chain`'s pools. */
  private async restoreOne(shard: number, a: RestoredAgent, at: number, chain: string) {
    const k = agentKeys(a.agentId, this.shards, shard);
    const [code] = await this.scripts.run(
      'restoreAgent',
      [k.agent, indexKey(shard), readyKey(shard)],
      [
        this.offset(),
        a.agentId,
        a.role,
        a.status,
        a.sessionId,
        a.sessionStartedMs,
        a.sessionTokenLimit,
        a.dailyLimitMicros,
        a.keyDigest,
        a.createdMs,
        a.metadata,
        a.sessionTokensUsed,
        a.sessionCostMicros,
        a.operationsBlocked,
        at,
        a.dailyCostMicros,
        a.sessionOverrunTokens ?? 0,
        a.dailyOverrunMicros ?? 0,
        a.requestsPerMinute ?? 0,
        a.tokensPerMinute ?? 0,
        a.monthlyLimitMicros ?? 0,
        agentZone(a.timeZone, Date.now()).text,
        a.monthlyCostMicros ?? 0,
        a.monthlyOverrunMicros ?? 0,
        chain,
        (a.sessionAlerts ?? []).join(','),
        (a.dailyAlerts ?? []).join(','),
        (a.monthlyAlerts ?? []).join(','),
      ],
    );
    return Number(code);
  }
}
