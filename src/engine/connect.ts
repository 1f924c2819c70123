import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { TollgateError } from '../errors.js';

export type RedisTarget =
  | Redis
  | Cluster
  | string
  | { clusterNodes: (string | { host: string; port: number })[] };

/**
 * Fail closed, fast: no offline queue (a command while Redis is away fails at
 * once), a command timeout, one retry per request; reconnection goes on in
 * the background so service resumes by itself. No auto-pipelining: authorize
 * and settle already send one call per shard and tick (the batchers), and
 * ioredis 6's auto-pipeline on top of them measured 44k authorize/s against
 * 61–68k without it at concurrency 512 (docs/decisions.md).
 */
export const CLIENT_OPTIONS: RedisOptions = {
  enableAutoPipelining: false,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 800,
  connectTimeout: 2_000,
  retryStrategy: (times) => Math.min(50 * times, 500),
};

/**
 * A Cluster client: the same, per node, also without auto-pipelining. ioredis
 * auto-pipelines a Cluster per master with one pipeline in flight per master
 * at a time, which costs more than it saves once authorize batches by shard:
 * off takes less CPU per operation (Node and Redis) in every case
 * bench:engine measures, with ops/s as high or within the machine's noise
 * (docs/BENCHMARKS.md, "bench/engine on a Redis Cluster"), and every command
 * gets its own MOVED/ASK handling in a failover.
 */
export const CLUSTER_OPTIONS: ClusterOptions = {
  enableAutoPipelining: false,
  enableOfflineQueue: false,
  redisOptions: CLIENT_OPTIONS,
  clusterRetryStrategy: (times) => Math.min(100 * times, 1_000),
};

function parseNode(n: string | { host: string; port: number }): ClusterNode {
  if (typeof n !== 'string') return n;
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(n);
  return { host: m?.[1] || '127.0.0.1', port: Number(m?.[2]) };
}

/** An ioredis client for a URL or cluster node list; an existing client is used as it is. */
export function connect(target: RedisTarget): { client: Redis | Cluster; owned: boolean } {
  if (target instanceof Redis || target instanceof Cluster) return { client: target, owned: false };
  const client =
    typeof target === 'string'
      ? new Redis(target, CLIENT_OPTIONS)
      : new Cluster(target.clusterNodes.map(parseNode), { ...CLUSTER_OPTIONS });
  // Errors surface on the commands (as STORE_UNAVAILABLE); the client reconnects by itself.
  client.on('error', () => undefined);
  return { client, owned: true };
}

/** Waits until a client Tollgate created is ready (commands are not queued before that). */
export async function waitReady(client: Redis | Cluster, timeoutMs = 5_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new TollgateError('STORE_UNAVAILABLE', `Redis did not become ready in ${timeoutMs} ms`),
      );
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/**
 * Refuses a Redis that may evict keys: a budget or a hold that vanishes under
 * memory pressure is an overspend. Checked on every master of a Cluster. With
 * `allow`, such a Redis is accepted and `warn` is told.
 */
export async function checkEvictionPolicy(
  client: Redis | Cluster,
  allow = false,
  warn: (message: string) => void = console.warn,
): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    const reply = (await node.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy !== 'noeviction' && allow) {
      warn(
        `tollgate: WARNING: Redis maxmemory-policy is '${policy}' (allowed by option): evicted keys lose budgets and holds`,
      );
    } else if (policy !== 'noeviction') {
      throw new TollgateError(
        'VALIDATION_FAILED',
        `Redis maxmemory-policy is '${policy}'; Tollgate needs 'noeviction' (evicted keys would lose budgets and holds). ` +
          `Fix: run CONFIG SET maxmemory-policy noeviction on the Redis (and set it in redis.conf), ` +
          `or accept the risk with --allow-eviction (TOLLGATE_ALLOW_EVICTION=true; the allowEviction option)`,
        { maxmemory_policy: policy },
      );
    }
  }
}
