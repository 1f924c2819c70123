import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './redis-outbox.js';

/** Where the audit worker finds Redis: a URL, or Redis Cluster seed nodes. */
export type WorkerRedisTarget =
  | string
  | { clusterNodes: (string | { host: string; port: number })[] };

export type WorkerLogLevel = 'info' | 'warn' | 'error';
export type WorkerLog = (
  level: WorkerLogLevel,
  message: string,
  data?: Record<string, unknown>,
) => void;

/** One JSON line per event: info to stdout, warnings and errors to stderr. */
export const defaultLog: WorkerLog = (level, message, data) => {
  const line = JSON.stringify({ level, msg: message, ...data });
  if (level === 'info') process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
};

function parseNode(n: string | { host: string; port: number }): ClusterNode {
  if (typeof n !== 'string') return n;
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(n);
  return { host: m?.[1] || '127.0.0.1', port: Number(m?.[2]) };
}

/**
 * A connection for BullMQ: `maxRetriesPerRequest: null` (BullMQ requires it:
 * its commands wait out a reconnection instead of failing), separate from the
 * engine's fail-fast client.
 */
export function workerConnection(target: WorkerRedisTarget): RedisClient {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2_000),
  };
  const client =
    typeof target === 'string'
      ? new Redis(target, options)
      : new Cluster(target.clusterNodes.map(parseNode), {
          redisOptions: options,
          clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
        });
  return client;
}
