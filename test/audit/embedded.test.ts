import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  DrainFlushError,
  type OutboxSource,
  restoreFromStore,
  startEmbeddedDrain,
} from '../../src/audit/embedded/index.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import type { BudgetStatus } from '../../src/budget/index.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import type { OutboxEntry } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';

/**
 * Embedded mode (ARCHITECTURE.md, rule 'Embedded by default'): MemoryEngine's
 * outbox drained into PGlite in
 * a temp dir, and a new MemoryEngine restored from that dir.
 */

const dirs: string[] = [];
const stores: AuditStore[] = [];

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tollgate-embedded-'));
  dirs.push(d);
  return d;
}

async function openStore(dataDir: string): Promise<AuditStore> {
  const s = await createStore({ dataDir });
  stores.push(s);
  return s;
}

/** Every event in the store, paged through the API's own query. */
async function allEvents(store: AuditStore): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.queryEvents({ limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...page.events);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** The engine as the drain sees it, recording every event id it took and acknowledged. */
function watched(engine: MemoryEngine): OutboxSource & { taken: Set<string>; acked: string[] } {
  const taken = new Set<string>();
  const acked: string[] = [];
  return {
    taken,
    acked,
    takeOutbox(max) {
      const entries = engine.takeOutbox(max);
      for (const e of entries) taken.add(e.fields.event_id as string);
      return entries;
    },
    ackOutbox(entries: readonly OutboxEntry[]) {
      for (const e of entries) acked.push(e.fields.event_id as string);
      return engine.ackOutbox(entries);
    },
    outboxBacklog: () => engine.outboxBacklog(),
  };
}

/** The real store, with faults on demand: down (insert throws) or commit-then-throw (lost reply). */
function faulty(store: AuditStore) {
  const ctl = { down: false, loseReplies: 0, calls: 0, failures: 0 };
  const wrapped: AuditStore = Object.create(store);
  wrapped.insertEvents = async (events) => {
    ctl.calls++;
    if (ctl.down) {
      ctl.failures++;
      throw new Error('store unreachable (injected)');
    }
    const n = await store.insertEvents(events);
    if (ctl.loseReplies > 0) {
      ctl.loseReplies--;
      ctl.failures++;
      throw new Error('connection lost after commit (injected)');
    }
    return n;
  };
  return { store: wrapped, ctl };
}

/** A budget status without what holds in flight make (they are not restored). */
function settled(s: BudgetStatus | null): unknown {
  if (!s) return s;
  const { tokens_reserved: _r, tokens_remaining: _m, ...session } = s.session;
  const { cost_reserved: _cr, cost_remaining: _cm, ...daily } = s.daily;
  const { cost_reserved: _mr, cost_remaining: _mm, ...monthly } = s.monthly;
  return { ...s, session, daily, monthly };
}

async function snapshotOf(tg: Tollgate, ids: readonly string[]) {
  return {
    agents: await tg.identity.getAllAgents(),
    status: await Promise.all(ids.map(async (id) => settled(await tg.budget.getBudgetStatus(id)))),
  };
}

const quiet = { onError: () => {} };

describe('embedded mode: the drain into PGlite, and restore from it', () => {
  it('stores every event exactly once; a new engine restored from the data dir carries on', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const engine = new MemoryEngine();
    const source = watched(engine);
    const drain = startEmbeddedDrain({ engine: source, store, intervalMs: 10, batch: 50 });
    const tg = await createTollgate({ engine });
    const ids = ['alice', 'bob', 'carol', 'dave', 'eve', 'load'];
    let decisions = 0;

    const alice = await tg.identity.registerAgent('alice', 'coder', { team: 'a' });
    for (let k = 0; k < 3; k++) {
      const d = await tg.guard.checkPermission('alice', 'read_file', { estimatedTokens: 1000 });
      decisions++;
      if (!d.allowed) throw new Error('denied');
      await tg.guard.recordOperation(
        'alice',
        'read_file',
        { inputTokens: 300, outputTokens: 200 },
        'success',
        d.reservation_id,
      );
    }
    // A settle above its hold (estimate 100, used 500): an overrun of 400 tokens and of its cost.
    const over = await tg.guard.checkPermission('alice', 'read_file', { estimatedTokens: 100 });
    decisions++;
    if (!over.allowed) throw new Error('denied');
    await tg.guard.recordOperation(
      'alice',
      'read_file',
      { inputTokens: 300, outputTokens: 200 },
      'success',
      over.reservation_id,
    );
    await tg.guard.checkPermission('alice', 'deploy'); // RBAC_DENIED: counts as blocked
    decisions++;
    await tg.budget.deductBudget('alice', 100, 50);
    const released = await tg.guard.checkPermission('alice', 'write_file');
    decisions++;
    if (released.allowed) await tg.guard.releaseReservation(released.reservation_id);
    // A hold still in flight at the restart: not restored.
    const inFlight = await tg.guard.checkPermission('alice', 'run_tests');
    decisions++;
    if (!inFlight.allowed) throw new Error('denied');

    const bob = await tg.identity.registerAgent('bob', 'tester');
    await tg.budget.deductBudget('bob', 1000, 1000);
    await tg.identity.endSession(bob.session_id);
    await tg.budget.deductBudget('bob', 10, 20); // the new session's only usage
    await tg.identity.suspendAgent('bob');

    const carolOld = await tg.identity.registerAgent('carol', 'coder', { n: 1 });
    const carol = await tg.identity.rotateKey('carol');
    await tg.budget.deductBudget('carol', 2000, 500);
    await tg.budget.setLimits('carol', { sessionTokenLimit: 3000, dailyCostLimit: 2 });
    await tg.identity.setMetadata('carol', { n: 2 });

    await tg.identity.registerAgent('dave', 'coder');
    await tg.identity.deleteAgent('dave');

    await tg.identity.registerAgent('eve', 'reviewer');
    await tg.budget.deductBudget('eve', 500, 0);
    await tg.identity.deleteAgent('eve');
    const eve = await tg.identity.registerAgent('eve', 'reviewer');
    await tg.budget.deductBudget('eve', 0, 40);

    // AGENT_NOT_FOUND: no event (nothing is written before the caller is authenticated).
    await tg.guard.checkPermission('ghost', 'read_file');

    await tg.identity.registerAgent('load', 'coder');
    for (let k = 0; k < 400; k++) {
      const d = await tg.guard.checkPermission('load', 'read_file', { estimatedTokens: 10 });
      decisions++;
      if (d.allowed) {
        await tg.guard.recordOperation('load', 'read_file', { inputTokens: 5, outputTokens: 5 });
      }
    }

    // The loop catches up by itself.
    await vi.waitFor(() => expect(drain.stats().backlog).toBe(0), { timeout: 20_000 });
    await drain.flush();
    await drain.stop();

    const stored = await allEvents(store);
    const storedIds = stored.map((e) => e.event_id);
    expect(new Set(storedIds).size).toBe(storedIds.length);
    expect(new Set(storedIds)).toEqual(source.taken);
    expect(source.acked.length).toBe(source.taken.size); // no failure here: each acked once
    expect(await engine.readOutbox()).toEqual([]);
    const count = (type: string) => stored.filter((e) => e.type === type).length;
    expect(count('decision')).toBe(decisions);
    expect(count('agent_registered')).toBe(7);
    expect(count('agent_deleted')).toBe(2);
    expect(count('key_rotated')).toBe(1);
    expect(count('session_ended')).toBe(1);
    expect(count('session_started')).toBe(1);
    expect(drain.stats()).toMatchObject({
      drained: stored.length,
      inserted: stored.length,
      rejected: 0,
      failures: 0,
      backlog: 0,
    });

    const before = await snapshotOf(tg, ids);
    expect(before.agents.map((a) => a.agent_id)).toEqual(['alice', 'bob', 'carol', 'eve', 'load']);
    const aliceBefore = await tg.budget.getBudgetStatus('alice');
    expect(aliceBefore?.session.tokens_reserved).toBe(8000);
    await tg.close();
    await store.close();

    // ---- restart: a new engine, the store reopened from the same folder.
    const store2 = await openStore(dir);
    const engine2 = new MemoryEngine();
    expect(await restoreFromStore(engine2, store2)).toMatchObject({ agents: 5 });
    const tg2 = await createTollgate({ engine: engine2 });
    const after = await snapshotOf(tg2, ids);
    expect(after).toEqual(before);
    expect(after.status[0]).toMatchObject({
      session: { session_id: alice.session_id, tokens_used: 2150, tokens_overrun: 400 },
      operations_blocked: 1,
    });
    // The overrun's cost: 300 in at $3/M + 200 out at $15/M on a hold of 100 at $15/M.
    expect((await tg2.budget.getBudgetStatus('alice'))?.daily.cost_overrun).toBeCloseTo(0.0024, 9);
    expect((await tg2.budget.getBudgetStatus('bob'))?.session.tokens_used).toBe(30);
    expect((await tg2.budget.getBudgetStatus('eve'))?.daily.cost_used).toBeCloseTo(0.0021, 9);
    // Holds in flight are gone: nothing reserved, and the old reservation is unknown.
    const aliceAfter = await tg2.budget.getBudgetStatus('alice');
    expect(aliceAfter?.session.tokens_reserved).toBe(0);
    expect(aliceAfter?.daily.cost_reserved).toBe(0);
    await expect(
      tg2.guard.recordOperation(
        'alice',
        'run_tests',
        { inputTokens: 1 },
        'success',
        inFlight.reservation_id,
      ),
    ).rejects.toMatchObject({ code: 'RESERVATION_NOT_FOUND' });

    // Keys: the current ones still work, a rotated-away key does not.
    expect(await tg2.identity.verifyAgent('alice', alice.api_key)).toEqual({
      valid: true,
      reason: null,
    });
    expect(await tg2.identity.verifyAgent('carol', carol.api_key)).toEqual({
      valid: true,
      reason: null,
    });
    expect(await tg2.identity.verifyAgent('carol', carolOld.api_key)).toEqual({
      valid: false,
      reason: 'Invalid API key',
    });
    expect(await tg2.identity.verifyAgent('eve', eve.api_key)).toMatchObject({ valid: true });
    expect(await tg2.identity.verifyAgent('bob', bob.api_key)).toMatchObject({ valid: false });
    expect(await tg2.identity.verifyAgent('dave')).toMatchObject({ valid: false });

    // Deciding goes on from the restored counters: carol has 500 of 3,000 tokens left.
    expect(
      await tg2.guard.checkPermission('carol', 'read_file', { estimatedTokens: 501 }),
    ).toMatchObject({
      allowed: false,
      exceeded: 'session',
    });
    expect(await tg2.guard.checkPermission('bob', 'read_file')).toMatchObject({
      allowed: false,
      error_code: 'AGENT_SUSPENDED',
    });
    const drain2 = startEmbeddedDrain({ engine: engine2, store: store2, intervalMs: 10 });
    const d = await tg2.guard.checkPermission('alice', 'read_file', { estimatedTokens: 1000 });
    if (!d.allowed) throw new Error('denied after restore');
    const r = await tg2.guard.recordOperation(
      'alice',
      'read_file',
      { inputTokens: 300, outputTokens: 200 },
      'success',
      d.reservation_id,
    );
    expect(r.budget_status.session.tokens_used).toBe(2650);
    await tg2.identity.createSession('load');
    await tg2.budget.deductBudget('load', 7, 7);
    await drain2.flush();
    await drain2.stop();
    const before2 = await snapshotOf(tg2, ids);
    await store2.close();

    // ---- and once more: the second engine's events restore as well.
    const store3 = await openStore(dir);
    const engine3 = new MemoryEngine();
    await restoreFromStore(engine3, store3);
    const tg3 = await createTollgate({ engine: engine3 });
    expect(await snapshotOf(tg3, ids)).toEqual(before2);
    const events3 = await allEvents(store3);
    expect(new Set(events3.map((e) => e.event_id)).size).toBe(events3.length);
    expect(events3.length).toBe(stored.length + 7);
    // A restored engine refuses a second restore.
    await expect(restoreFromStore(engine3, store3)).rejects.toMatchObject({ code: 'CONFLICT' });
  }, 120_000);

  it('loses nothing while the store fails, and stores once what it retries after a lost reply', async () => {
    const base = await openStore(await tempDir());
    const { store, ctl } = faulty(base);
    const engine = new MemoryEngine();
    const errors: number[] = [];
    const drain = startEmbeddedDrain({
      engine,
      store,
      intervalMs: 5,
      batch: 40,
      retryMinMs: 5,
      retryMaxMs: 40,
      onError: (_e, info) => errors.push(info.attempt),
    });
    const tg = await createTollgate({ engine });
    const agents = ['f-1', 'f-2', 'f-3'];
    for (const id of agents) await tg.identity.registerAgent(id, 'coder');
    let expected = agents.length;
    const work = async (n: number) => {
      for (let k = 0; k < n; k++) {
        const id = agents[k % agents.length] as string;
        const d = await tg.guard.checkPermission(id, 'write_file', { estimatedTokens: 20 });
        if (!d.allowed) throw new Error('denied');
        await tg.guard.recordOperation(
          id,
          'write_file',
          { inputTokens: 4, outputTokens: 6 },
          'success',
          d.reservation_id,
        );
        expected += 2;
        if (k % 25 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    };

    await work(60);
    // The store goes away while decisions go on.
    ctl.down = true;
    await work(150);
    await new Promise((r) => setTimeout(r, 150));
    expect(drain.stats().failures).toBeGreaterThan(0);
    expect(drain.stats().backlog).toBeGreaterThan(0);
    await work(90);
    // It comes back, but the first replies are lost after their commit: the drain retries those batches.
    ctl.loseReplies = 2;
    ctl.down = false;
    await work(60);
    await vi.waitFor(() => expect(drain.stats().backlog).toBe(0), { timeout: 20_000 });
    await drain.flush();
    await drain.stop();

    const stored = await allEvents(base);
    expect(stored.length).toBe(expected);
    expect(new Set(stored.map((e) => e.event_id)).size).toBe(expected);
    expect(stored.filter((e) => e.type === 'settle').length).toBe(360);
    expect(ctl.failures).toBeGreaterThan(2);
    expect(errors.length).toBe(ctl.failures);
    const st = drain.stats();
    expect(st).toMatchObject({ drained: expected, failures: 0, lastError: null, backlog: 0 });
    // The batches whose reply was lost went twice: the retry found them stored, nothing new.
    expect(st.inserted).toBeLessThan(expected);
    expect(st.inserted).toBeGreaterThan(0);

    // The store's sums agree with the engine.
    const totals = await base.totals(Math.floor(Date.now() / 86_400_000) * 86_400_000);
    for (const id of agents) {
      const s = await engine.status(id);
      expect(totals.find((t) => t.agentId === id)).toMatchObject({
        sessionTokens: s?.sessionTokensUsed,
        dayCost: s?.dailyCostMicros,
      });
    }
  }, 60_000);

  it('flush gives up after its timeout with the events still in the outbox, and drains them later', async () => {
    const base = await openStore(await tempDir());
    const { store, ctl } = faulty(base);
    const engine = new MemoryEngine();
    const drain = startEmbeddedDrain({
      engine,
      store,
      intervalMs: 5,
      retryMinMs: 5,
      retryMaxMs: 20,
      ...quiet,
    });
    const tg = await createTollgate({ engine });
    ctl.down = true;
    await tg.identity.registerAgent('fl-1', 'coder');
    for (let k = 0; k < 10; k++) await tg.budget.deductBudget('fl-1', 1, 1);

    const err = await drain.flush({ timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrainFlushError);
    expect((err as DrainFlushError).pending).toBe(11);
    expect((err as Error).message).toMatch(/11 event\(s\) not stored/);
    expect(await engine.readOutbox()).toHaveLength(11);
    expect(drain.stats().lastError).toMatch(/injected/);

    await drain.stop();
    ctl.down = false;
    // flush works after stop (the shutdown order is stop, then flush, or the reverse).
    expect(await drain.flush()).toBe(11);
    expect(await allEvents(base)).toHaveLength(11);
    expect(await engine.readOutbox()).toEqual([]);
  }, 60_000);

  it('the background loop retries by itself with backoff, then drains', async () => {
    const base = await openStore(await tempDir());
    const { store, ctl } = faulty(base);
    const engine = new MemoryEngine();
    const delays: number[] = [];
    const drain = startEmbeddedDrain({
      engine,
      store,
      intervalMs: 5,
      retryMinMs: 10,
      retryMaxMs: 40,
      onError: (_e, info) => delays.push(info.retryInMs),
    });
    ctl.down = true;
    const tg = await createTollgate({ engine });
    await tg.identity.registerAgent('bk-1', 'coder');
    await vi.waitFor(() => expect(delays.length).toBeGreaterThanOrEqual(4), { timeout: 5_000 });
    expect(delays.slice(0, 4)).toEqual([10, 20, 40, 40]);
    ctl.down = false;
    await vi.waitFor(() => expect(drain.stats().backlog).toBe(0), { timeout: 5_000 });
    expect(drain.stats().failures).toBe(0);
    await drain.stop();
    expect(await allEvents(base)).toHaveLength(1);
  }, 60_000);
});
