import { describe, expect, it } from 'vitest';
import type { EngineSnapshot, RestoredAgent } from '../../src/engine/memory/index.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import type { OutboxEntry } from '../../src/engine/types.js';
import { digestKey } from '../../src/identity/index.js';
import { createTollgate } from '../../src/index.js';

/** MemoryEngine's drain-side additions, without a store: takeOutbox/ackOutbox and restore. */

async function traffic(engine: MemoryEngine, agents: number, perAgent: number): Promise<void> {
  const tg = await createTollgate({ engine });
  for (let a = 0; a < agents; a++) {
    const id = `ob-${a}`;
    await tg.identity.registerAgent(id, 'coder');
    for (let k = 0; k < perAgent; k++) await tg.guard.checkPermission(id, 'deploy');
  }
}

function ids(entries: readonly OutboxEntry[]): string[] {
  return entries.map((e) => e.fields.event_id as string);
}

describe('MemoryEngine.takeOutbox / ackOutbox', () => {
  it('take is a peek: the same entries until acknowledged, then the next ones', async () => {
    const engine = new MemoryEngine();
    await traffic(engine, 3, 4);
    const all = await engine.readOutbox();
    expect(all).toHaveLength(15);
    const first = engine.takeOutbox(5);
    expect(first).toHaveLength(5);
    expect(ids(engine.takeOutbox(5))).toEqual(ids(first));
    expect(await engine.readOutbox()).toHaveLength(15);
    expect(engine.ackOutbox(first)).toBe(5);
    expect(engine.ackOutbox(first)).toBe(0);
    const rest = engine.takeOutbox(100);
    expect(rest).toHaveLength(10);
    expect(new Set([...ids(first), ...ids(rest)])).toEqual(new Set(ids(all)));
    engine.ackOutbox(rest);
    expect(engine.takeOutbox(10)).toEqual([]);
    expect(await engine.readOutbox()).toEqual([]);
  });

  it('keeps each shard in order and gives every busy shard a share of a batch', async () => {
    const engine = new MemoryEngine({ shards: 4 });
    await traffic(engine, 8, 20);
    const byShard = new Map<number, string[]>();
    for (const e of await engine.readOutbox()) {
      byShard.set(e.shard, [...(byShard.get(e.shard) ?? []), e.streamId]);
    }
    const busy = [...byShard.keys()];
    expect(busy.length).toBeGreaterThan(1);
    const batch = engine.takeOutbox(8);
    expect(batch).toHaveLength(8);
    // Every non-empty shard is in the batch, and what it gives is the head of its outbox.
    expect(new Set(batch.map((e) => e.shard))).toEqual(new Set(busy));
    for (const [shard, streamIds] of byShard) {
      const got = batch.filter((e) => e.shard === shard).map((e) => e.streamId);
      expect(got).toEqual(streamIds.slice(0, got.length));
    }
    // Draining in batches of 7 hands out every entry once, per shard in order.
    const seen = new Map<number, string[]>();
    for (;;) {
      const b = engine.takeOutbox(7);
      if (b.length === 0) break;
      for (const e of b) seen.set(e.shard, [...(seen.get(e.shard) ?? []), e.streamId]);
      engine.ackOutbox(b);
    }
    expect(seen).toEqual(byShard);
  });

  it('returns copies, counts the backlog, and refuses a bad batch size', async () => {
    const engine = new MemoryEngine({ shards: 2 });
    await traffic(engine, 2, 1);
    const [e] = engine.takeOutbox(1);
    if (!e) throw new Error('empty');
    e.fields.type = 'changed';
    expect((await engine.readOutbox())[0]?.fields.type).not.toBe('changed');
    const backlog = engine.outboxBacklog();
    expect(backlog.reduce((n, s) => n + s.length, 0)).toBe(4);
    for (const s of backlog) {
      if (s.length > 0) expect(s.oldestMs).toBeGreaterThan(Date.now() - 60_000);
      else expect(s.oldestMs).toBeNull();
    }
    expect(() => engine.takeOutbox(0)).toThrow(RangeError);
    expect(() => engine.takeOutbox(1.5)).toThrow(RangeError);
  });

  it('acknowledges entries out of order too, keeping the rest in order', async () => {
    const engine = new MemoryEngine({ shards: 1 });
    await traffic(engine, 1, 5);
    const all = engine.takeOutbox(10);
    expect(all).toHaveLength(6);
    engine.ackOutbox([all[2], all[4]] as OutboxEntry[]);
    expect(ids(engine.takeOutbox(10))).toEqual(ids([0, 1, 3, 5].map((k) => all[k] as OutboxEntry)));
  });
});

const DIGEST = 'a'.repeat(64);

function agent(over: Partial<RestoredAgent> = {}): RestoredAgent {
  const agentId = over.agentId ?? 'rs-1';
  return {
    agentId,
    role: 'coder',
    status: 'active',
    sessionId: `${agentId}.00000a0123456789`,
    sessionStartedMs: Date.now() - 60_000,
    sessionTokenLimit: 10_000,
    dailyLimitMicros: 5_000_000,
    keyDigest: DIGEST,
    createdMs: Date.now() - 120_000,
    metadata: '{"team":"a"}',
    sessionTokensUsed: 4_000,
    sessionCostMicros: 12_000,
    operationsBlocked: 2,
    dailyCostMicros: 30_000,
    ...over,
  };
}

function today(): number {
  return Math.floor(Date.now() / 86_400_000) * 86_400_000;
}

describe('MemoryEngine.restore', () => {
  it('loads agents and counters, holds nothing, emits no events, and then decides on them', async () => {
    const engine = new MemoryEngine();
    const snap: EngineSnapshot = {
      dayStartMs: today(),
      agents: [agent(), agent({ agentId: 'rs-2', status: 'suspended', dailyCostMicros: 0 })],
    };
    expect(engine.restore(snap)).toBe(2);
    expect(await engine.readOutbox()).toEqual([]);
    const raw = await engine.getAgent('rs-1');
    expect(raw).toMatchObject({ keyDigest: DIGEST, metadata: '{"team":"a"}' });
    expect(raw?.status).toMatchObject({
      role: 'coder',
      status: 'active',
      sessionId: 'rs-1.00000a0123456789',
      sessionTokensUsed: 4_000,
      sessionTokensReserved: 0,
      sessionCostMicros: 12_000,
      dailyCostMicros: 30_000,
      dailyReservedMicros: 0,
      operationsBlocked: 2,
    });
    expect((await engine.status('rs-2'))?.status).toBe('suspended');
    expect((await engine.listAgents()).map((a) => a.status.agentId)).toEqual(['rs-1', 'rs-2']);

    const tg = await createTollgate({ engine });
    // 4,000 used of 10,000: 6,001 does not fit, 6,000 does; the key digest is checked.
    expect(
      await tg.guard.checkPermission('rs-1', 'read_file', { estimatedTokens: 6_001 }),
    ).toMatchObject({
      allowed: false,
      exceeded: 'session',
    });
    await expect(
      engine.authorize({
        agentId: 'rs-1',
        operation: 'read_file',
        estimatedTokens: 10,
        rates: { model: 'm', inputMicrosPerMillion: 1, outputMicrosPerMillion: 1 },
        leaseMs: 1000,
        allowedRoles: ['coder'],
        keyDigest: digestKey('tg_wrong'),
        actor: 'agent',
      }),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const d = await tg.guard.checkPermission('rs-1', 'read_file', { estimatedTokens: 6_000 });
    expect(d.allowed).toBe(true);
    expect((await tg.budget.getBudgetStatus('rs-1'))?.operations_blocked).toBe(3);
  });

  it('refuses an engine that has state, a second restore, and a bad snapshot (changing nothing)', async () => {
    const used = new MemoryEngine();
    await traffic(used, 1, 0);
    expect(() => used.restore({ dayStartMs: today(), agents: [] })).toThrow(
      expect.objectContaining({ code: 'CONFLICT' }),
    );

    // AGENT_NOT_FOUND writes nothing (no event: nothing before the caller is authenticated), so
    // an engine that only answered that is still empty: it may be restored, once.
    const denied = new MemoryEngine();
    const tg = await createTollgate({ engine: denied, sweep: false });
    await tg.guard.checkPermission('nobody', 'read_file');
    expect(await denied.readOutbox()).toEqual([]);
    expect(denied.restore({ dayStartMs: today(), agents: [] })).toBe(0);
    expect(() => denied.restore({ dayStartMs: today(), agents: [] })).toThrow(
      expect.objectContaining({ code: 'CONFLICT' }),
    );
    await tg.close();

    const fresh = new MemoryEngine();
    const bad: Partial<RestoredAgent>[] = [
      { agentId: 'bad:id' },
      { sessionId: 'other.00000a0123456789' },
      { keyDigest: 'nope' },
      { sessionTokensUsed: -1 },
      { dailyCostMicros: 1.5 },
      { status: 'gone' as 'active' },
      { role: '' },
    ];
    for (const over of bad) {
      expect(() =>
        fresh.restore({ dayStartMs: today(), agents: [agent({ agentId: 'ok-1' }), agent(over)] }),
      ).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
    expect(() => fresh.restore({ dayStartMs: today(), agents: [agent(), agent()] })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
    expect(() => fresh.restore({ dayStartMs: today() + 1, agents: [] })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
    expect(await fresh.listAgents()).toEqual([]);

    expect(fresh.restore({ dayStartMs: today(), agents: [agent()] })).toBe(1);
    expect(() => fresh.restore({ dayStartMs: today(), agents: [] })).toThrow(
      expect.objectContaining({ code: 'CONFLICT' }),
    );
  });

  it("a snapshot of another day's spend does not count today", async () => {
    const engine = new MemoryEngine();
    engine.restore({ dayStartMs: today() - 86_400_000, agents: [agent()] });
    const s = await engine.status('rs-1');
    expect(s?.dailyCostMicros).toBe(0);
    expect(s?.sessionTokensUsed).toBe(4_000);
  });
});
