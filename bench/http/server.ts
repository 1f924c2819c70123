/**
 * The server under test: createTollgate (Redis URL or embedded) with the
 * workload's agents registered through the library, createApp, startServer
 * on a free port. Used by child.ts (its own process, the default) or directly
 * (BENCH_HTTP_SERVER=inline: the load generator's process).
 */
import { createApp } from '../../src/api/app.js';
import { startServer } from '../../src/api/server.js';
import { setupWorkload } from '../lib/workload.js';
import { CONFIG } from './config.js';
import { currentUsage, type ServerUsage } from './usage.js';

export interface BenchServer {
  port: number;
  engine: 'redis' | 'memory';
  /** The engine's shard count (one audit outbox stream each). */
  shards: number;
  usage(): ServerUsage;
  close(): Promise<void>;
}

export async function startBenchServer(redisUrl: string | undefined): Promise<BenchServer> {
  const { tollgate } = await setupWorkload(redisUrl ? { redis: redisUrl } : {});
  const app = createApp({ tollgate, adminToken: CONFIG.adminToken });
  const running = await startServer({ app, port: 0, host: '127.0.0.1', tollgate, signals: [] });
  return {
    port: running.port,
    engine: tollgate.engine.kind,
    shards: tollgate.engine.shards,
    usage: currentUsage,
    close: () => running.close(),
  };
}
