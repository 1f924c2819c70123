/**
 * Key names, in one place. A budget scope (the agent) maps to one of S shards
 * by a stable hash of its id; every key of a scope carries the shard's hash tag
 * `{s<n>}`, so one script's keys always share a Redis Cluster slot. An agent
 * in a pool lives on its hierarchy's shard instead (its root's), with the same
 * key names under that shard's tag (docs/engine.md, "Keys").
 *
 *   tg:{s<n>}:agent:<id>                 agent hash: state, limits, session counters,
 *                                        holds and the records that make every
 *                                        script safe to run twice (lua/includes/records.lua)
 *   tg:{s<n>}:agent:<id>:day:<yyyymmdd>  the day's spend, the agent's local date (derived by the scripts)
 *   tg:{s<n>}:agent:<id>:month:<yyyymm>  the month's spend, the agent's local month (derived by the scripts)
 *   tg:{s<n>}:agent:<id>:leases          zset: open holds by lease end, records by expiry
 *   tg:{s<n>}:agent:<id>:gone            a delete's nonce, time and last state (a hash), an hour
 *   tg:{s<n>}:agents                     set of agent ids in the shard
 *   tg:{s<n>}:outbox                     the shard's audit outbox stream
 *   tg:{s<n>}:stats                      the shard's counters (leases_freed)
 *   tg:{s<n>}:dir                        where the agents of this home shard that live
 *                                        elsewhere live (lua/includes/dir.lua)
 *   tg:{s<n>}:pool:<rootId>              a pool hierarchy: a field per pool (lua/includes/pools.lua)
 *   tg:{s<n>}:pools                      the root ids of the shard's hierarchies
 *   tg:{s<n>}:pooldir                    the root of each pool whose id's shard this is
 *   tg:{s<n>}:carry                      holds closed here whose pools are on another shard,
 *                                        until closed there (lua/includes/pools.lua P.carry)
 *   tg:{s<n>}:left, tg:{s<n>}:left:leases  the pool parts of holds that moved away with
 *                                        their agent (lua/includes/left.lua)
 */
import { checkAgentId } from './ids.js';

export const DEFAULT_SHARDS = 16;

/** FNV-1a 32-bit of the id, mod the shard count: stable across processes and versions. */
export function shardOf(scopeId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < scopeId.length; i++) {
    h ^= scopeId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

export function shardTag(shard: number): string {
  return `tg:{s${shard}}:`;
}

export interface AgentKeys {
  shard: number;
  agent: string;
  leases: string;
  outbox: string;
  index: string;
  day(yyyymmdd: number): string;
  month(yyyymm: number): string;
}

/** The agent's keys on its home shard, or on `at` (an agent in a pool lives on its root's shard). */
export function agentKeys(agentId: string, shards: number, at?: number): AgentKeys {
  const shard = at ?? shardOf(agentId, shards);
  const tag = shardTag(shard);
  const agent = `${tag}agent:${agentId}`;
  return {
    shard,
    agent,
    leases: `${agent}:leases`,
    outbox: `${tag}outbox`,
    index: `${tag}agents`,
    day: (yyyymmdd) => `${agent}:day:${yyyymmdd}`,
    month: (yyyymm) => `${agent}:month:${yyyymm}`,
  };
}

export function outboxKey(shard: number): string {
  return `${shardTag(shard)}outbox`;
}

export function statsKey(shard: number): string {
  return `${shardTag(shard)}stats`;
}

export function indexKey(shard: number): string {
  return `${shardTag(shard)}agents`;
}

/** The directory of the agents whose home shard this is and that live on another one. */
export function dirKey(shard: number): string {
  return `${shardTag(shard)}dir`;
}

/** A pool hierarchy's hash, on its root's shard. */
export function poolKey(rootId: string, shards: number): string {
  return `${shardTag(shardOf(rootId, shards))}pool:${rootId}`;
}

/** The root ids of a shard's hierarchies. */
export function poolsIndexKey(shard: number): string {
  return `${shardTag(shard)}pools`;
}

/** The holds closed on this shard whose pools are on another one, until closed there. */
export function carryKey(shard: number): string {
  return `${shardTag(shard)}carry`;
}

/** The roots of the pools whose id's shard this is. */
export function poolDirKey(shard: number): string {
  return `${shardTag(shard)}pooldir`;
}

/**
 * Key names of many agents, built once each (bounded: cleared past `max`
 * entries), and only for ids that pass their check (ids.ts): the first use of
 * an id checks it (VALIDATION_FAILED).
 */
export class AgentKeyCache {
  private readonly map = new Map<string, AgentKeys>();
  /** The keys of agents that live away from their home shard, at their shard. */
  private readonly away = new Map<string, AgentKeys>();
  constructor(
    private readonly shards: number,
    private readonly max = 100_000,
  ) {}

  get(agentId: string): AgentKeys {
    let k = this.map.get(agentId);
    if (k === undefined) {
      checkAgentId(agentId);
      if (this.map.size >= this.max) this.map.clear();
      k = agentKeys(agentId, this.shards);
      this.map.set(agentId, k);
    }
    return k;
  }

  /** The agent's keys on `shard` (its home keys when that is its home). */
  at(agentId: string, shard: number): AgentKeys {
    const home = this.get(agentId);
    if (home.shard === shard) return home;
    let k = this.away.get(agentId);
    if (k === undefined || k.shard !== shard) {
      if (this.away.size >= this.max) this.away.clear();
      k = agentKeys(agentId, this.shards, shard);
      this.away.set(agentId, k);
    }
    return k;
  }
}
