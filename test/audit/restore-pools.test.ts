/**
 * Pools survive a restore from the store (docs/recovery.md, "What is
 * restored"): the hierarchy (parents, limits, zones), each agent in its pool
 * (a move included), each pool's spend of its local day and month, a deleted
 * pool staying deleted, and a pool's limit still enforced after the restore.
 * Embedded: a new MemoryEngine restored from the store (a PGlite data folder,
 * and PostgreSQL).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { restoreFromStore } from '../../src/audit/embedded/index.js';
import { createStore, type StoreOptions } from '../../src/audit/store/index.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import { createTollgate } from '../../src/index.js';
import { expectPoolsBack, poolTraffic } from '../support/restore-pools.js';

const databaseUrl = inject('databaseUrl');
const hex = () => randomBytes(4).toString('hex');

describe.each([{ kind: 'pglite' as const }, { kind: 'postgres' as const }])(
  'embedded restart ($kind)',
  ({ kind }) => {
    const dirs: string[] = [];
    const schemas: string[] = [];
    afterAll(async () => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      for (const schema of schemas) {
        const store = (await createStore({ databaseUrl, schema })) as PostgresStore;
        await store.pool.query(`DROP SCHEMA ${schema} CASCADE`);
        await store.close();
      }
    });

    it('pools, membership and spend come back exactly; a pool limit still holds', async () => {
      let options: StoreOptions;
      if (kind === 'pglite') {
        const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-pools-embedded-'));
        dirs.push(dataDir);
        options = { dataDir };
      } else {
        const schema = `tg_pools_${hex()}`;
        schemas.push(schema);
        options = { databaseUrl, schema };
      }
      const engine = new MemoryEngine();
      const tg = await createTollgate({ engine, store: options });
      const world = await poolTraffic(engine);
      await tg.close(); // flushes the drain into the store

      const engine2 = new MemoryEngine();
      const store = await createStore(options);
      try {
        expect(await restoreFromStore(engine2, store)).toMatchObject({ agents: 4 });
        const stored = await store.pools?.(Date.now());
        expect(stored?.map((p) => p.poolId)).toEqual([world.org, world.teamA, world.teamB]);
      } finally {
        await store.close();
      }
      await expectPoolsBack(engine2, world);
      await engine2.close();
    });
  },
);
