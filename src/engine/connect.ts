import { Cluster, Redis } from 'ioredis';
import { TollgateError } from '../errors.js';

export type RedisTarget = Redis | Cluster | string | { clusterNodes: string[] };

const CLIENT_OPTIONS = {
  enableAutoPipelining: true,
  maxRetriesPerRequest: 1,
} as const;

/** An ioredis client for a URL or cluster node list; an existing client is used as it is. */
export function connect(target: RedisTarget): { client: Redis | Cluster; owned: boolean } {
  if (typeof target === 'string') return { client: new Redis(target, CLIENT_OPTIONS), owned: true };
  if (target instanceof Redis || target instanceof Cluster) return { client: target, owned: false };
  const nodes = target.clusterNodes.map((hp) => {
    const [host, port] = hp.split(':');
    return { host: host || '127.0.0.1', port: Number(port) };
  });
  return {
    client: new Cluster(nodes, { enableAutoPipelining: true, redisOptions: CLIENT_OPTIONS }),
    owned: true,
  };
}

/**
 * Refuses a Redis that may evict keys: a budget or a hold that vanishes under
 * memory pressure is an overspend. Checked on every master of a Cluster.
 */
export async function checkEvictionPolicy(client: Redis | Cluster): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    const reply = (await node.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy !== 'noeviction') {
      throw new TollgateError(
        'VALIDATION_FAILED',
        `Redis maxmemory-policy is '${policy}'; Tollgate needs 'noeviction' (evicted keys would lose budgets and holds)`,
        { maxmemory_policy: policy },
      );
    }
  }
}
