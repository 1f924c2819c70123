/**
 * The peer: rate-limiter-flexible's RateLimiterRedis `consume(key)`, on its
 * own ioredis client with the options Tollgate gives its own (auto-pipelining,
 * one retry), over the same keys (the agent ids), round-robin.
 */
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { agentIds } from './config.js';

export interface PeerLoad {
  limiter: RateLimiterRedis;
  consume(seq: number): Promise<void>;
  consumeKey(key: string): Promise<void>;
  close(): Promise<void>;
}

export function setupPeer(url: string): PeerLoad {
  const client = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  // Points so many that it never rejects; a window long enough to outlast the run.
  const limiter = new RateLimiterRedis({
    storeClient: client,
    keyPrefix: 'rlflx',
    points: 1e12,
    duration: 3600,
  });
  const keys = agentIds();
  const n = keys.length;
  const consumeKey = async (key: string) => {
    await limiter.consume(key, 1);
  };
  return {
    limiter,
    consume: (seq) => consumeKey(keys[seq % n] as string),
    consumeKey,
    close: async () => {
      await client.quit().catch(() => undefined);
    },
  };
}
