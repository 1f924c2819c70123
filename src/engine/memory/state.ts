import { DEFAULT_SHARDS, shardOf } from '../keys.js';
import { type Period, periodAt, type ZoneTransitions } from '../periods.js';
import { RandomPool } from '../random.js';
import type { RateState } from '../rate.js';
import type { AgentStatus, EndedSession } from '../types.js';
import { MAX_FREE_PER_CALL } from '../validate.js';
import type { PoolRec } from './pools.js';
import { ExpiryQueue } from './queue.js';
import { ResIndex } from './res-index.js';
import type { StoredEvent, StreamStamp } from './stored-event.js';

/**
 * The in-process mirror of the Redis keys (src/engine/keys.ts). Field names
 * follow the Lua ones; see lua/includes/agent.lua.
 */

/** tg:{s<n>}:agent:<id>; its rate limits and their TATs: rpm, tpm, rTat, tTat (src/engine/rate.ts). */
export interface AgentRec extends RateState {
  role: string;
  status: AgentStatus;
  /** Current session id, `<agentId>.<nonce>`. */
  sid: string;
  /** s_start: ms. */
  sStart: number;
  /** s_limit: tokens per session. */
  sLimit: number;
  /** d_limit: micro-dollars per day. */
  dLimit: number;
  /** m_limit: micro-dollars per month, 0: none. */
  mLimit: number;
  /** zone: the time zone's name ('UTC' by default); zoneT: its offsets as stored (field `z`). */
  zone: string;
  zoneT: ZoneTransitions;
  sUsed: number;
  sRes: number;
  sCost: number;
  /** c_res: micro-dollars held, any day. */
  cRes: number;
  blocked: number;
  /** s_over: tokens settled above their holds in this session. */
  sOver: number;
  /** next_exp: ms of the earliest open lease (never later than it), 0: none. */
  nextExp: number;
  digest: string;
  created: number;
  meta: string;
  /** The summary of the session ended last (answered to replays of startSession); null: none. */
  ended: EndedSession | null;
  /** Its pool and the pools above it, leaf first (pools.ts); empty: in no pool. */
  pools: readonly string[];
  /** Alert marks of the session (agent hash fields `a:<pct>`): threshold → the session id it fired for (alerts.ts). */
  alertSids?: Map<number, string>;
}

/** Open: held; expired: freed by its lease; settled, released: closed by a call. */
export type ResState = 'open' | 'expired' | 'settled' | 'released';

/** tg:{s<n>}:agent:<id>:res:<nonce>; while open, also a member of the leases. */
export interface Reservation {
  readonly scope: Scope;
  readonly nonce: string;
  st: ResState;
  readonly sid: string;
  readonly tok: number;
  readonly cost: number;
  readonly rin: number;
  readonly rout: number;
  readonly op: string;
  readonly model: string;
  /** Lease end (ms of the engine's clock): the score in the leases zset. */
  readonly exp: number;
  readonly req: string;
  /** The pools the hold was made under, leaf first (settled, released, freed there). */
  readonly pools: readonly string[];
  /** Set when closed (settle fields `in`, `out`, `charged`, `result`, and the overruns). */
  inTokens: number;
  outTokens: number;
  charged: number;
  result: string;
  overTokens: number;
  overMicros: number;
  /** Real (process) ms after which the record is gone; 0: no expiry (open). */
  expireAt: number;
}

/**
 * tg:{s<n>}:agent:<id>:req:<request id>: the decision made for it, an allowed
 * one (`code` 0: its hold's lease end and nonce) or a denial (its code).
 */
export interface RequestRec {
  readonly scope: Scope;
  readonly id: string;
  /** Code.OK, or the denial's code (codes.ts). */
  readonly code: number;
  readonly leaseEnd: number;
  readonly nonce: string;
  readonly fp: string;
  /** A pool's denial: the pool ('' else). */
  readonly poolId: string;
  readonly expireAt: number;
}

/**
 * tg:{s<n>}:agent:<id>:use:<usage id>: a usage recorded (kind `usage`) or a
 * settle by operation (kind `settle`, its reservation's nonce), with the
 * fingerprint of its values and what it answered.
 */
export interface UsageRec {
  readonly scope: Scope;
  readonly id: string;
  readonly kind: 'settle' | 'usage';
  readonly fp: string;
  readonly nonce: string;
  readonly cost: number;
  readonly overTokens: number;
  readonly overMicros: number;
  readonly expireAt: number;
}

/**
 * tg:{s<n>}:agent:<id>:day:<yyyymmdd> and …:month:<yyyymm> (local to the
 * agent's zone), fields `cost` and `over` (overrun). `day` is the period's
 * number: yyyymmdd for a day, yyyymm for a month (the two never meet).
 */
export interface DayRec {
  readonly scope: Scope;
  readonly day: number;
  cost: number;
  over: number;
  readonly expireAt: number;
  /** Alert marks (fields `a<pct>` of the period's hash): the thresholds fired in this period (alerts.ts). */
  alerts?: Set<number>;
}

/**
 * Everything stored under one agent id. Day spend outlives the agent record
 * (deleteAgent removes the agent, its holds, reservations, request ids and
 * usage ids), as the Redis day keys do.
 */
export interface Scope {
  readonly agentId: string;
  /** Where its events go: its id's shard, or its pool hierarchy's (the root's) while in a pool. */
  shard: number;
  agent: AgentRec | null;
  /** Open holds ordered by (lease end, nonce), like the leases zset. */
  leases: Reservation[];
  readonly res: ResIndex;
  readonly req: Map<string, RequestRec>;
  readonly use: Map<string, UsageRec>;
  readonly days: Map<number, DayRec>;
}

/** Expired records reclaimed per queue and operation, at least (and at least twice maxFree). */
const SWEEP_PER_CALL = 16;
/** Most expired holds one operation call frees, unless told otherwise. */
export const DEFAULT_MAX_FREE = MAX_FREE_PER_CALL;

export interface MemoryStateOptions {
  shards?: number;
  maxFreePerCall?: number;
}

export class MemoryState implements StreamStamp {
  readonly shards: number;
  readonly maxFree: number;
  private readonly sweep: number;
  readonly rnd = new RandomPool();
  readonly scopes = new Map<string, Scope>();
  /** Every pool by id (pools.ts). */
  readonly pools = new Map<string, PoolRec>();
  /** tg:{s<n>}:agents */
  readonly index: Set<string>[];
  /** Per shard: its agent ids sorted (the sweep's order), null until needed after a change. */
  private readonly sorted: (string[] | null)[];
  /** tg:{s<n>}:outbox */
  readonly outbox: StoredEvent[][];
  private readonly lastMs: number[];
  private readonly lastSeq: number[];
  /** Per shard: holds freed because their lease passed (the scripts' tg:{s<n>}:stats leases_freed). */
  readonly leasesFreed: number[];

  /** Test-only clock shift. */
  offset = 0;
  /** Process time of the current operation (what Redis expiry runs on). */
  real = 0;
  /** The engine's clock for the current operation: real + offset. */
  now = 0;
  /** The periods at `now` of the zones used in this operation. */
  private readonly periods = new Map<ZoneTransitions, Period>();
  /** Set by freeExpired when it ran (the Lua `a.dirty`). */
  dirty = false;
  /** Set once restore (restore.ts) has loaded a snapshot. */
  restored = false;

  readonly resQ = new ExpiryQueue<Reservation>();
  readonly reqQ = new ExpiryQueue<RequestRec>();
  readonly useQ = new ExpiryQueue<UsageRec>();
  readonly dayQ = new ExpiryQueue<DayRec>();

  constructor(opts: MemoryStateOptions = {}) {
    this.shards = opts.shards ?? DEFAULT_SHARDS;
    this.maxFree = opts.maxFreePerCall ?? DEFAULT_MAX_FREE;
    this.sweep = Math.max(SWEEP_PER_CALL, 2 * this.maxFree);
    this.index = Array.from({ length: this.shards }, () => new Set<string>());
    this.sorted = new Array<string[] | null>(this.shards).fill(null);
    this.outbox = Array.from({ length: this.shards }, () => []);
    this.lastMs = new Array<number>(this.shards).fill(0);
    this.lastSeq = new Array<number>(this.shards).fill(0);
    this.leasesFreed = new Array<number>(this.shards).fill(0);
  }

  /** Reads the clock once for an operation, and reclaims a few expired records. */
  tick(): void {
    const real = Date.now();
    const now = real + this.offset;
    this.real = real;
    this.now = now;
    this.dirty = false;
    this.periods.clear();
    this.resQ.drain(real, this.sweep, this.dropRes);
    this.reqQ.drain(real, this.sweep, this.dropReq);
    this.useQ.drain(real, this.sweep, this.dropUse);
    this.dayQ.drain(real, this.sweep, this.dropDay);
  }

  /** The agent's local day and month at `now` (periodAt in its zone). */
  period(a: AgentRec): Period {
    return this.periodIn(a.zoneT);
  }

  /** The local day and month at `now` in a zone (an agent's or a pool's), once per operation. */
  periodIn(zoneT: ZoneTransitions): Period {
    let p = this.periods.get(zoneT);
    if (p === undefined) {
      p = periodAt(this.now, zoneT);
      this.periods.set(zoneT, p);
    }
    return p;
  }

  shardOf(agentId: string): number {
    return shardOf(agentId, this.shards);
  }

  scope(agentId: string): Scope {
    let sc = this.scopes.get(agentId);
    if (!sc) {
      sc = {
        agentId,
        shard: this.shardOf(agentId),
        agent: null,
        leases: [],
        res: new ResIndex(),
        req: new Map(),
        use: new Map(),
        days: new Map(),
      };
      this.scopes.set(agentId, sc);
    }
    return sc;
  }

  /** Forgets a scope that holds nothing any more (records may also go lazily, on read). */
  dropIfEmpty(sc: Scope): void {
    if (
      sc.agent === null &&
      sc.leases.length === 0 &&
      sc.res.size === 0 &&
      sc.req.size === 0 &&
      sc.use.size === 0 &&
      sc.days.size === 0 &&
      this.scopes.get(sc.agentId) === sc
    ) {
      this.scopes.delete(sc.agentId);
    }
  }

  /** SADD tg:{s<n>}:agents <id> */
  addToIndex(sc: Scope): void {
    const ids = this.index[sc.shard] as Set<string>;
    if (!ids.has(sc.agentId)) {
      ids.add(sc.agentId);
      this.sorted[sc.shard] = null;
    }
  }

  /** SREM tg:{s<n>}:agents <id> */
  removeFromIndex(sc: Scope): void {
    if ((this.index[sc.shard] as Set<string>).delete(sc.agentId)) this.sorted[sc.shard] = null;
  }

  /** Moves the agent (its index entry and where its events go) to `shard`. */
  moveToShard(sc: Scope, shard: number): void {
    if (sc.shard === shard) return;
    const indexed = (this.index[sc.shard] as Set<string>).has(sc.agentId);
    if (indexed) this.removeFromIndex(sc);
    sc.shard = shard;
    if (indexed) this.addToIndex(sc);
  }

  /** The shard's agent ids in id order (code unit order), kept until the index changes. */
  sortedIndex(shard: number): readonly string[] {
    let ids = this.sorted[shard];
    if (!ids) {
      ids = [...(this.index[shard] as Set<string>)].sort();
      this.sorted[shard] = ids;
    }
    return ids;
  }

  /**
   * Advances the shard's stream id, the next XADD `*` id `<ms>-<seq>` (always
   * increasing), and returns its seq; `streamMs` is its ms.
   */
  nextSeq(shard: number): number {
    const ms = this.real;
    if (ms > (this.lastMs[shard] as number)) {
      this.lastMs[shard] = ms;
      this.lastSeq[shard] = 0;
      return 0;
    }
    const seq = (this.lastSeq[shard] as number) + 1;
    this.lastSeq[shard] = seq;
    return seq;
  }

  streamMs(shard: number): number {
    return this.lastMs[shard] as number;
  }

  private readonly dropRes = (r: Reservation): void => {
    const sc = r.scope;
    if (r.expireAt !== 0 && r.expireAt < this.real && sc.res.get(r.nonce) === r) {
      sc.res.delete(r.nonce);
    }
    this.dropIfEmpty(sc);
  };

  private readonly dropReq = (q: RequestRec): void => {
    const sc = q.scope;
    if (q.expireAt < this.real && sc.req.get(q.id) === q) sc.req.delete(q.id);
    this.dropIfEmpty(sc);
  };

  private readonly dropUse = (u: UsageRec): void => {
    const sc = u.scope;
    if (u.expireAt < this.real && sc.use.get(u.id) === u) sc.use.delete(u.id);
    this.dropIfEmpty(sc);
  };

  private readonly dropDay = (d: DayRec): void => {
    const sc = d.scope;
    if (d.expireAt < this.real && sc.days.get(d.day) === d) sc.days.delete(d.day);
    this.dropIfEmpty(sc);
  };
}

/** The scripts' `digest ~= '' and a.digest ~= digest`: a key given that is not the agent's. */
export function wrongKey(given: string | undefined, digest: string): boolean {
  return given !== undefined && given !== '' && given !== digest;
}

/** saveCounters of lua/includes/agent.lua: reserved counters never go below 0. */
export function saveCounters(a: AgentRec): void {
  if (a.sRes < 0) a.sRes = 0;
  if (a.cRes < 0) a.cRes = 0;
}
