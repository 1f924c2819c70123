/**
 * The audit store after migration 2: settle overruns stored (nullable
 * columns, an older store upgraded in place), and an agent's events by
 * incarnation (an id deleted and registered again).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { MIGRATIONS } from '../../src/audit/store/index.js';
import { harness, newestFirst, scenario, synthetic, uid } from './store-harness.js';

describe.each(['postgres', 'pglite'] as const)(
  'audit store on %s: overruns, incarnations',
  (kind) => {
    const h = harness(kind);
    afterAll(() => h.cleanup());

    it('an id deleted and registered again: its current incarnation by default, all on request', async () => {
      const { store } = await h.fresh();
      const { events, tg, b, c } = await scenario();
      await tg.close();
      await store.insertEvents(events);
      const of = (id: string) => events.filter((e) => e.agent_id === id).sort(newestFirst);
      const list = async (id: string, incarnations?: 'current' | 'all') =>
        (await store.queryEvents({ agentId: id, limit: 1000, incarnations })).events;
      const mine = of(c);
      const registered = mine.filter((e) => e.type === 'agent_registered');
      expect(registered).toHaveLength(2);
      const since = (registered[0] as AuditEvent).at; // the later registration (newest first)
      const current = await list(c);
      expect(current).toEqual(mine.filter((e) => e.at >= since));
      expect(current.at(-1)?.type).toBe('agent_registered');
      expect(current.some((e) => e.type === 'agent_deleted')).toBe(false);
      expect(await list(c, 'current')).toEqual(current);
      expect(await list(c, 'all')).toEqual(mine);
      expect(mine.length).toBeGreaterThan(current.length);
      // A deleted agent (its tombstone keeps its creation): its last incarnation, deletion included.
      expect(await list(b)).toEqual(of(b));
      expect((await list(b)).at(0)?.type).toBe('agent_deleted');
      // An id the registry does not know: every event of it.
      const stray = synthetic(uid('stray'), 5, Date.now(), 1);
      await store.insertEvents(stray);
      expect(await list(stray[0]?.agent_id as string)).toHaveLength(5);
      // Without an agent the option changes nothing.
      const everything = (await store.queryEvents({ limit: 1000 })).events;
      expect((await store.queryEvents({ limit: 1000, incarnations: 'current' })).events).toEqual(
        everything,
      );
    });

    it('migration 2: nullable overrun columns; a store from before it is upgraded in place', async () => {
      const { where, db } = await h.versionOne();
      const old = synthetic(uid('v1'), 3, Date.now() - 5_000, 1);
      const id = (old[0] as AuditEvent).event_id;
      // An event stored by version 1 (no overrun columns then).
      await db.query(
        "INSERT INTO audit_events (event_id, v, at, type, agent_id, cost) VALUES ($1::uuid, 1, $2::bigint, 'settle', $3, 42)",
        [id, (old[0] as AuditEvent).at, (old[0] as AuditEvent).agent_id],
      );
      await db.close();
      const store = await h.open(where);
      const versions = await h.sql<{ version: number }>(
        store,
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(versions.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      const cols = await h.sql<{ column_name: string; data_type: string; is_nullable: string }>(
        store,
        `SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'audit_events'
          AND column_name LIKE 'overrun%' ORDER BY column_name`,
      );
      expect(cols).toEqual([
        { column_name: 'overrun_cost', data_type: 'bigint', is_nullable: 'YES' },
        { column_name: 'overrun_tokens', data_type: 'bigint', is_nullable: 'YES' },
      ]);
      // The old row reads with no overrun; new rows carry theirs (0 included), exactly.
      const [before] = (await store.queryEvents({ agentId: (old[0] as AuditEvent).agent_id }))
        .events;
      expect(before).toMatchObject({
        event_id: id,
        cost: 42,
        overrun_tokens: null,
        overrun_cost: null,
      });
      const settles = old.slice(1).map((e, i) => ({
        ...e,
        type: 'settle' as const,
        overrun_tokens: i === 0 ? 0 : 9_007_199_254_740_991,
        overrun_cost: i === 0 ? 0 : 123_456_789,
      }));
      expect(await store.insertEvents(settles)).toBe(2);
      const back = await store.queryEvents({ agentId: (old[0] as AuditEvent).agent_id });
      expect(back.events.slice(0, 2)).toEqual([...settles].sort(newestFirst));
    });
  },
);
