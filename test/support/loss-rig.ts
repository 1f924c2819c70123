/**
 * The rig of the Redis data loss tests (test/audit/restore-*.test.ts): a
 * private Redis server and a Tollgate on it whose durable store is a new
 * PGlite folder or a schema of its own in the run's PostgreSQL, all undone
 * after the file's tests (afterAll). Call `rig(kind, label)` in a describe,
 * then `start()` in its test; `keep(tg)` closes another Tollgate with it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, inject } from 'vitest';
import type { AuditStore, StoreOptions } from '../../src/audit/store/index.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';
import { RedisEngine } from '../../src/engine/redis/redis-engine.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';

export interface LossRig {
  server: RedisServer;
  /** A plain client on the server (drains, FLUSHALL). */
  redis: Redis;
  tg: Tollgate;
  engine: RedisEngine;
  store: AuditStore;
}

export function lossRig(kind: 'pglite' | 'postgres', label: string) {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  let dataDir: string | undefined;
  let schema: string | undefined;
  let store: AuditStore | undefined;
  const open: Tollgate[] = [];

  afterAll(async () => {
    if (schema !== undefined && store) {
      await (store as PostgresStore).pool.query(`DROP SCHEMA ${schema} CASCADE`);
    }
    for (const tg of open.reverse()) await tg.close();
    redis?.disconnect();
    await server?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  return {
    async start(): Promise<LossRig> {
      server = await startRedis();
      redis = new Redis(server.url);
      let options: StoreOptions;
      if (kind === 'pglite') {
        dataDir = mkdtempSync(join(tmpdir(), `tollgate-${label}-`));
        options = { dataDir };
      } else {
        schema = `tg_${label.replaceAll('-', '_')}_${randomBytes(4).toString('hex')}`;
        options = { databaseUrl: inject('databaseUrl'), schema };
      }
      const tg = await createTollgate({ redis: server.url, store: options, warn: () => {} });
      open.push(tg);
      store = tg.store as AuditStore;
      if (!(tg.engine instanceof RedisEngine)) throw new Error('expected RedisEngine');
      return { server, redis, tg, engine: tg.engine, store };
    },
    /** Closes `tg` after the tests, before the servers go. */
    keep(tg: Tollgate): Tollgate {
      open.push(tg);
      return tg;
    },
  };
}
