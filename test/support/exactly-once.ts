/**
 * Helpers of the "exactly once under faults" tests: Tollgate's ioredis
 * clients through fault proxies (test/support/fault-proxy.ts), a dump of one
 * agent's keys whatever the current layout of its hash, and a normaliser that
 * makes the dumps, answers and events of two agents comparable (the control
 * agent, run once, and the agent whose reply was dropped).
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { inject } from 'vitest';
import { CLIENT_OPTIONS, CLUSTER_OPTIONS } from '../../src/engine/connect.js';
import { agentKeys, DEFAULT_SHARDS, shardOf } from '../../src/engine/keys.js';
import { loadScript } from '../../src/engine/redis/lua.js';
import { StateReader } from '../../src/engine/redis/state.js';
import type { EngineStatus } from '../../src/engine/types.js';
import type { EngineUnderTest } from './engines.js';
import { type Drop, type DropOptions, FaultProxy, proxyCluster } from './fault-proxy.js';
import { shardEvents } from './outbox.js';

/** The options src/engine/connect.ts gives the clients Tollgate makes. */
export const TOLLGATE_CLIENT_OPTIONS: RedisOptions = CLIENT_OPTIONS;

export function tollgateClusterOptions(natMap?: ClusterOptions['natMap']): ClusterOptions {
  return { ...CLUSTER_OPTIONS, natMap };
}

export interface Faulty {
  /**
   * What to give createTollgate as `redis`: Redis, the proxy's URL (Tollgate
   * makes its client, with its own options); Cluster, a Cluster client with
   * Tollgate's options and the natMap through the proxies (a node list cannot
   * carry a natMap).
   */
  target: string | Cluster;
  /** A client with Tollgate's options whose every connection goes through a fault proxy. */
  client: Redis | Cluster;
  /** A client straight to the store (reads for the checks; never faulted). */
  raw: Redis | Cluster;
  armDropNextReply(opts?: DropOptions): Promise<Drop>;
  /** Takes back an armed drop that has not fired. */
  disarm(): void;
  /** Replies dropped so far. */
  dropped(): number;
  /** Cuts every proxied connection (the client reconnects). */
  cutAll(): void;
  close(): Promise<void>;
}

function ready(c: Redis | Cluster): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`client not ready (${c.status})`)), 10_000);
    c.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Tollgate's client for the run's private Redis (`redis`) or Cluster (`cluster`), through proxies. */
export async function faultyStore(kind: 'redis' | 'cluster'): Promise<Faulty> {
  if (kind === 'redis') {
    const url = new URL(inject('redisUrl'));
    const proxy = await FaultProxy.start({ host: url.hostname, port: Number(url.port) });
    const client = new Redis(proxy.url, TOLLGATE_CLIENT_OPTIONS);
    const raw = new Redis(inject('redisUrl'));
    for (const c of [client, raw]) c.on('error', () => undefined);
    await Promise.all([ready(client), ready(raw)]);
    return {
      target: proxy.url,
      client,
      raw,
      armDropNextReply: (o) => proxy.armDropNextReply(o),
      disarm: () => proxy.disarm(),
      dropped: () => proxy.dropped,
      cutAll: () => proxy.cutAll(),
      close: async () => {
        client.disconnect();
        raw.disconnect();
        await proxy.close();
      },
    };
  }
  const nodes = inject('clusterNodes');
  const group = await proxyCluster(nodes);
  const client = new Cluster(group.seeds, tollgateClusterOptions(group.natMap));
  const raw = new Cluster(nodes);
  for (const c of [client, raw]) c.on('error', () => undefined);
  await Promise.all([ready(client), ready(raw)]);
  return {
    target: client,
    client,
    raw,
    armDropNextReply: (o) => group.armDropNextReply(o),
    disarm: () => group.disarm(),
    dropped: () => group.dropped,
    cutAll: () => group.cutAll(),
    close: async () => {
      client.disconnect();
      raw.disconnect();
      await group.close();
    },
  };
}

const LUA_DIR = new URL('../../lua/', import.meta.url);

/** The lua/ file (without .lua) of a script name: `settle` → `settle-1`. */
function scriptFile(name: string): string {
  const files = readdirSync(LUA_DIR).filter((f) => f.startsWith(`${name}-`) && f.endsWith('.lua'));
  if (files.length !== 1) throw new Error(`no single lua/${name}-<keys>.lua (found ${files})`);
  return (files[0] as string).slice(0, -4);
}

/** The SHA1 ioredis sends in EVALSHA for a script (as defineCommand computes it). */
export function scriptSha(name: string): string {
  return createHash('sha1')
    .update(loadScript(scriptFile(name)))
    .digest('hex');
}

/**
 * Loads every lua/ script on every master, so that the command whose reply a
 * test drops is the EVALSHA that runs (never a NOSCRIPT and its EVAL).
 */
export async function preloadScripts(raw: Redis | Cluster): Promise<void> {
  const nodes = raw instanceof Cluster ? raw.nodes('master') : [raw];
  for (const f of readdirSync(LUA_DIR).filter((x) => /^[A-Za-z]+-\d+\.lua$/.test(x))) {
    const text = loadScript(f.slice(0, -4));
    for (const n of nodes) await n.script('LOAD', text).catch(() => undefined);
  }
}

/** The write that runs script `name` for `agentId` (its EVALSHA names both). */
export function scriptCall(name: string, agentId: string): (b: Buffer) => boolean {
  const sha = scriptSha(name);
  return (b) => b.includes(sha) && b.includes(agentId);
}

let seq = 0;
/** Two fresh agent ids in the same shard (one Cluster node, the same scripts loaded). */
export function twinIds(prefix = 'eo'): [string, string] {
  const rnd = () =>
    `${prefix}-${(seq++).toString(36)}${createHash('sha1').update(`${Math.random()}`).digest('hex').slice(0, 10)}`;
  const a = rnd();
  for (;;) {
    const b = rnd();
    if (shardOf(b, DEFAULT_SHARDS) === shardOf(a, DEFAULT_SHARDS)) return [a, b];
  }
}

/** The agent hash's packed state `s` as named values (text of its bytes when it cannot be read). */
export function decodeState(buf: Buffer): Record<string, string | number> | string {
  try {
    return new StateReader().fields(buf);
  } catch {
    return buf.toString('latin1');
  }
}

/** Every key of one agent (`<agent key>` and `<agent key>:*`) with its value; hashes field by field. */
export async function agentDump(
  raw: Redis | Cluster,
  agentId: string,
): Promise<Record<string, unknown>> {
  const agentKey = agentKeys(agentId, DEFAULT_SHARDS).agent;
  const nodes = raw instanceof Cluster ? raw.nodes('master') : [raw];
  const out: Record<string, unknown> = {};
  for (const node of nodes) {
    const keys = await node.keys(`${agentKey.replace(/[{}[\]*?\\]/g, '\\$&')}*`);
    for (const key of keys.filter((k) => k === agentKey || k.startsWith(`${agentKey}:`))) {
      const type = await node.type(key);
      if (type === 'hash') {
        const h = await node.hgetallBuffer(key);
        const o: Record<string, unknown> = {};
        for (const [f, v] of Object.entries(h)) {
          o[f] = f === 's' ? decodeState(v) : v.toString('utf8');
        }
        out[key] = o;
      } else if (type === 'zset') {
        const z = await node.zrange(key, 0, -1, 'WITHSCORES');
        const pairs: string[] = [];
        for (let i = 0; i + 1 < z.length; i += 2) pairs.push(`${z[i]}=${z[i + 1]}`);
        out[key] = { zset: pairs };
      } else if (type === 'string') out[key] = await node.get(key);
      else if (type === 'set') out[key] = { set: await node.smembers(key) };
      else out[key] = type;
    }
  }
  return out;
}

/** The agent's events in its shard's outbox, oldest first (read straight from the stream). */
export async function agentEvents(
  raw: Redis | Cluster,
  agentId: string,
): Promise<Record<string, string>[]> {
  const events = await shardEvents(raw, shardOf(agentId, DEFAULT_SHARDS));
  return events.filter((e) => e.fields.agent_id === agentId).map((e) => e.fields);
}

/** The agent's events on any engine: from its shard's stream on Redis, else from MemoryEngine's outbox. */
export async function engineAgentEvents(
  ut: EngineUnderTest,
  agentId: string,
): Promise<Record<string, string>[]> {
  if (ut.raw !== undefined) return agentEvents(ut.raw, agentId);
  return (await ut.engine.readOutbox())
    .filter((e) => e.fields.agent_id === agentId)
    .map((e) => e.fields);
}

/** The agent's status without its clock reading (`nowMs`), for comparing two reads. */
export async function statusWithoutNow(
  ut: EngineUnderTest,
  agentId: string,
): Promise<Omit<EngineStatus, 'nowMs'>> {
  const s = await ut.engine.status(agentId);
  if (s === null) throw new Error(`no agent ${agentId}`);
  const { nowMs: _, ...rest } = s;
  return rest;
}

const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const HEX = /[0-9a-f]{16,}/g;
const KEY = /tg_AGENT\.[A-Za-z0-9_-]{43}/g;
const BIG = /-?\d{11,}(\.\d+)?/g;
const SHARD = /tg:\{s\d+\}:/g;

/**
 * A value with what differs between two agents' identical histories replaced:
 * the agent ids (→ AGENT), random ids (nonces, session ids, uuids, digests),
 * keys, times (ISO text, and numbers of 11+ digits: ms, lease ends, tombstone
 * scores), shard tags. Drops the fields named in `drop` (e.g. `replayed`).
 * Arrays are normalised in place (order kept), except members of sets and
 * zsets, which are sorted after normalising.
 */
export function norm(v: unknown, agentIds: string[], drop: string[] = []): unknown {
  const text = (s: string) => {
    let t = s;
    for (const id of agentIds) t = t.split(id).join('AGENT');
    return t
      .replace(KEY, 'tg_AGENT.<KEY>')
      .replace(ISO, '<ISO>')
      .replace(UUID, '<UUID>')
      .replace(HEX, '<HEX>')
      .replace(BIG, '<T>')
      .replace(SHARD, 'tg:{s}:');
  };
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') return text(x);
    if (typeof x === 'number') return Math.abs(x) >= 1e11 ? '<T>' : x;
    if (Array.isArray(x)) return x.map(walk);
    if (x !== null && typeof x === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(x)) {
        if (drop.includes(k)) continue;
        const nk = text(k);
        out[nk] =
          (k === 'zset' || k === 'set') && Array.isArray(val)
            ? (val.map(walk) as string[]).sort()
            : walk(val);
      }
      return out;
    }
    return x;
  };
  return walk(v);
}

/** Waits for a drop for up to `ms`; undefined when it did not happen. */
export async function dropped(fired: Promise<Drop>, ms = 2_000): Promise<Drop | undefined> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    fired,
    new Promise<undefined>((resolve) => {
      t = setTimeout(() => resolve(undefined), ms);
    }),
  ]);
  clearTimeout(t);
  return r;
}
