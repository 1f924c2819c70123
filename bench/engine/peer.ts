/**
 * The peer: rate-limiter-flexible's RateLimiterRedis on its own ioredis
 * client with the options Tollgate gives its own (auto-pipelining, one
 * retry), over the same keys (the agent ids), round-robin: `consume(key)`
 * beside our authorize, and `consume` then `reward` (its way to hold a point
 * and give it back) beside our authorize+settle pair.
 */
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { agentIds } from '../lib/workload.js';

export interface Peer {
  consumeKey(key: string): Promise<void>;
  rewardKey(key: string): Promise<void>;
  consume(seq: number): Promise<void>;
  pair(seq: number): Promise<void>;
  close(): Promise<void>;
}

export function setupPeer(url: string): Peer {
  const client = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  // Points so many that it never rejects; a window long enough to outlast the run.
  const limiter = new RateLimiterRedis({
    storeClient: client,
    keyPrefix: 'rlflx',
    points: 1e12,
    duration: 3600,
  });
  const keys = agentIds();
  const key = (seq: number) => keys[seq % keys.length] as string;
  const consumeKey = async (k: string) => {
    await limiter.consume(k, 1);
  };
  const rewardKey = async (k: string) => {
    await limiter.reward(k, 1);
  };
  return {
    consumeKey,
    rewardKey,
    consume: (seq) => consumeKey(key(seq)),
    async pair(seq) {
      await consumeKey(key(seq));
      await rewardKey(key(seq));
    },
    close: async () => {
      await client.quit().catch(() => undefined);
    },
  };
}
