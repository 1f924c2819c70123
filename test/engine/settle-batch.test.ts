/**
 * Coalesced settle (src/engine/redis/settle-batcher.ts, lua/settle-1.lua):
 * settles of one shard that arrive together go to Redis in one script call,
 * and each must come out exactly as if it had been called alone, in order;
 * the call run twice (its reply lost, resent with the same arguments) settles
 * nothing twice; a settle that fails its checks leaves the others of its
 * batch as they are. On the private Redis and the private Cluster.
 */
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertThresholds } from '../../src/engine/alerts.js';
import { Code } from '../../src/engine/codes.js';
import { agentKeys, shardOf } from '../../src/engine/keys.js';
import { splitSettles } from '../../src/engine/redis/settle-batcher.js';
import type { SettleInput, SettleResult } from '../../src/engine/types.js';
import { type EngineUnderTest, makeEngine, type ScriptCall, uid } from '../support/engines.js';
import { agentDump, agentEvents, norm } from '../support/exactly-once.js';

const RATES = { model: 'm', inputMicrosPerMillion: 3_000_000, outputMicrosPerMillion: 15_000_000 };
const DIGEST = 'a'.repeat(64);

/** One settle of a plan: by the agent's hold number `hold`, or by operation. */
interface Step {
  hold?: number;
  operation?: string;
  usageId?: string;
  inputTokens: number;
  outputTokens: number;
  result?: 'success' | 'failure';
}

/**
 * What each agent settles, in order: two holds (one above its estimate), the
 * oldest open read_file hold by operation, the first again (already closed),
 * a settle by operation that finds no hold, a usage id used again for other
 * usage (a conflict), and a write_file hold.
 */
const PLAN: Step[] = [
  { hold: 0, inputTokens: 800, outputTokens: 200 },
  { hold: 1, inputTokens: 1_500, outputTokens: 300, result: 'failure' },
  { operation: 'read_file', usageId: 'use-1', inputTokens: 100, outputTokens: 50 },
  { hold: 0, inputTokens: 800, outputTokens: 200 },
  { operation: 'read_file', usageId: 'use-2', inputTokens: 7, outputTokens: 7 },
  { operation: 'write_file', usageId: 'use-1', inputTokens: 1, outputTokens: 1 },
  { hold: 3, inputTokens: 10, outputTokens: 0 },
];
/** The operations of the holds each agent makes first (1,000 tokens each). */
const HOLDS = ['read_file', 'read_file', 'read_file', 'write_file'];

type RawScripts = Record<string, (...args: unknown[]) => Promise<unknown>>;

describe.each(['redis', 'cluster'] as const)('%s: settles that arrive together', (kind) => {
  let ut: EngineUnderTest;
  const shard = 5;

  beforeAll(async () => {
    ut = await makeEngine(kind);
  });
  afterAll(async () => {
    await ut.close();
  });

  /** `n` fresh agent ids of `shard` (one batch, one Cluster node). */
  function idsOfShard(n: number, prefix: string): string[] {
    const out: string[] = [];
    while (out.length < n) {
      const id = uid(prefix);
      if (shardOf(id, ut.engine.shards) === shard) out.push(id);
    }
    return out;
  }

  async function register(agentId: string): Promise<void> {
    await ut.engine.registerAgent({
      agentId,
      role: 'coder',
      sessionTokenLimit: 1_000_000,
      dailyLimitMicros: 1_000_000_000,
      keyDigest: DIGEST,
      metadata: '{}',
      actor: 'admin',
    });
  }

  /** Registers the agent and makes its holds; returns their reservation ids. */
  async function prepare(agentId: string): Promise<string[]> {
    await register(agentId);
    const ids: string[] = [];
    for (const operation of HOLDS) {
      const r = await ut.engine.authorize({
        agentId,
        operation,
        estimatedTokens: 1_000,
        rates: RATES,
        leaseMs: 300_000,
        allowedRoles: ['coder'],
        actor: 'library',
      });
      if (!r.allowed) throw new Error(`setup: ${r.code}`);
      ids.push(r.reservationId);
    }
    return ids;
  }

  function input(agentId: string, holds: string[], s: Step): SettleInput {
    return {
      ...(s.hold === undefined
        ? { agentId, operation: s.operation, usageId: s.usageId }
        : { reservationId: holds[s.hold] }),
      inputTokens: s.inputTokens,
      outputTokens: s.outputTokens,
      result: s.result ?? 'success',
      keyDigest: DIGEST,
      actor: 'agent',
    };
  }

  /** A settle's answer, comparable between agents: the hold by its number, no ids or clock. */
  function shape(
    r: PromiseSettledResult<SettleResult>,
    holds: string[],
  ): Record<string, unknown> | string {
    if (r.status === 'rejected') {
      const e = r.reason as { code: string; details?: { recorded?: unknown } };
      return `${e.code} ${JSON.stringify(e.details?.recorded ?? null)}`;
    }
    const { status, reservationId, ...rest } = r.value;
    const { agentId: _a, sessionId: _s, sessionStartedMs: _t, nowMs: _n, ...counters } = status;
    return { ...rest, hold: holds.indexOf(reservationId), counters };
  }

  function settleCalls(from: number): ScriptCall[] {
    return ut.calls.slice(from).filter((c) => c.script === 'settle');
  }

  /** Settles per call (ARGV: offsetMs, eventTail, maxFree, alertMin, alertPcts, then 13 per settle). */
  function settlesIn(c: ScriptCall): number {
    return (c.args.length - 5) / 13;
  }

  /**
   * Every key of the agent and its events, with its holds' nonces named by
   * their number (so that two agents' records line up field by field) and the
   * ids and clock taken out.
   */
  async function comparable(agentId: string, holds: string[]): Promise<unknown> {
    let text = JSON.stringify([await agentDump(raw(), agentId), await agentEvents(raw(), agentId)]);
    holds.forEach((r, k) => {
      text = text.split(r.slice(agentId.length + 1)).join(`hold${k}`);
    });
    return norm(JSON.parse(text), [agentId]);
  }

  function raw(): Redis | Cluster {
    if (ut.raw === undefined) throw new Error('no raw client');
    return ut.raw;
  }

  it('many agents of one shard, all at once: one call, each settle as if alone and in order', async () => {
    const alone = idsOfShard(12, 'sb-one');
    const together = idsOfShard(12, 'sb-all');
    const holds = new Map<string, string[]>();
    for (const id of [...alone, ...together]) holds.set(id, await prepare(id));
    const holdsOf = (id: string) => holds.get(id) as string[];

    // One at a time: each settle awaited before the next.
    const one: (Record<string, unknown> | string)[][] = [];
    for (const id of alone) {
      const answers: (Record<string, unknown> | string)[] = [];
      for (const s of PLAN) {
        const [r] = await Promise.allSettled([ut.engine.settle(input(id, holdsOf(id), s))]);
        answers.push(shape(r as PromiseSettledResult<SettleResult>, holdsOf(id)));
      }
      one.push(answers);
    }

    // All at once, in the same order.
    const from = ut.calls.length;
    const jobs = together.flatMap((id) =>
      PLAN.map((s) => ut.engine.settle(input(id, holdsOf(id), s))),
    );
    const settled = await Promise.allSettled(jobs);
    const all = together.map((id, k) =>
      settled.slice(k * PLAN.length, (k + 1) * PLAN.length).map((r) => shape(r, holdsOf(id))),
    );
    expect(all).toEqual(one);
    expect(one[0]?.map((a) => (typeof a === 'string' ? a.split(' ')[0] : a.outcome))).toEqual([
      'settled',
      'settled',
      'settled',
      'already_closed',
      'no_hold',
      'IDEMPOTENCY_CONFLICT',
      'settled',
    ]);
    const calls = settleCalls(from);
    expect(calls.map(settlesIn)).toEqual([together.length * PLAN.length]);
    // The script derives each agent's keys from the outbox's hash tag: every agent of
    // the call must be one of that shard's (its own key, exactly).
    for (const c of calls) {
      for (let j = 5; j < c.args.length; j += 13) {
        const agentId = String(c.args[j]);
        expect(String(c.keys[0]).replace(/outbox$/, `agent:${agentId}`)).toBe(
          agentKeys(agentId, ut.engine.shards).agent,
        );
      }
    }

    // Every key of each agent, and its events, as after the settles one at a time.
    for (let k = 0; k < alone.length; k++) {
      const a = alone[k] as string;
      const b = together[k] as string;
      expect(await comparable(b, holdsOf(b))).toEqual(await comparable(a, holdsOf(a)));
    }
  });

  it('the call run twice (a lost reply, resent): every settle answers its recorded one, nothing written', async () => {
    const ids = idsOfShard(8, 'sb-twice');
    const holds = new Map<string, string[]>();
    for (const id of ids) holds.set(id, await prepare(id));
    const holdsOf = (id: string) => holds.get(id) as string[];
    const from = ut.calls.length;
    const first = await Promise.allSettled(
      ids.flatMap((id) => PLAN.map((s) => ut.engine.settle(input(id, holdsOf(id), s)))),
    );
    const [call, ...more] = settleCalls(from);
    expect(more).toEqual([]);
    if (call === undefined) throw new Error('no settle call');

    const dumps = await Promise.all(ids.map((id) => agentDump(raw(), id)));
    const events = await Promise.all(ids.map((id) => agentEvents(raw(), id)));
    const script = (raw() as unknown as RawScripts).tg_settleBuffer as RawScripts[string];
    const again = splitSettles(
      (await script.call(raw(), ...call.keys, ...call.args)) as (number | Buffer)[],
      first.length,
    );

    for (let k = 0; k < first.length; k++) {
      const r = first[k] as PromiseSettledResult<SettleResult>;
      const a = again[k] as (number | Buffer)[];
      if (r.status === 'rejected') {
        expect(a[0]).toBe(Code.IDEMPOTENCY_CONFLICT);
        continue;
      }
      if (r.value.outcome === 'no_hold') {
        expect(a[0]).toBe(Code.NO_HOLD);
        continue;
      }
      // Settled, or already closed: the recorded settle, its hold and its numbers.
      expect(a[0]).toBe(Code.ALREADY_CLOSED);
      expect(r.value.reservationId.endsWith(`.${String(a[2])}`)).toBe(true);
      expect(a.slice(3, 6)).toEqual([
        r.value.costMicros,
        r.value.overrunTokens,
        r.value.overrunMicros,
      ]);
    }
    expect(await Promise.all(ids.map((id) => agentDump(raw(), id)))).toEqual(dumps);
    expect(await Promise.all(ids.map((id) => agentEvents(raw(), id)))).toEqual(events);
    for (const id of ids) {
      // Two settled holds of 1,000 + one by operation + the write_file one: counted once.
      expect(await ut.engine.status(id)).toMatchObject({
        sessionTokensUsed: 1_000 + 1_800 + 150 + 10,
        sessionTokensReserved: 0,
      });
    }
  });

  it('a settle that fails its checks leaves the others of its batch as they are', async () => {
    const [good1, good2, wrongKey, closed, ghost, used] = idsOfShard(6, 'sb-bad');
    const ids = [good1, good2, wrongKey, closed, used] as string[];
    const holds = new Map<string, string[]>();
    for (const id of ids) holds.set(id, await prepare(id));
    const holdsOf = (id: string) => holds.get(id) as string[];
    // Recorded before the batch: a settle of `closed`'s first hold, a usage id of `used`.
    await ut.engine.settle(input(closed as string, holdsOf(closed as string), PLAN[0] as Step));
    await ut.engine.settle(input(used as string, holdsOf(used as string), PLAN[2] as Step));
    const before = {
      wrongKey: await agentDump(raw(), wrongKey as string),
      closed: await agentDump(raw(), closed as string),
      used: await agentDump(raw(), used as string),
    };

    const ok = (id: string, hold: number) => input(id, holdsOf(id), { hold, ...USAGE });
    const from = ut.calls.length;
    const got = await Promise.allSettled([
      ut.engine.settle(ok(good1 as string, 0)),
      ut.engine.settle({ ...ok(good1 as string, 1), reservationId: `${good1}.0123456789abcdef` }),
      ut.engine.settle({ ...ok(wrongKey as string, 0), keyDigest: 'b'.repeat(64) }),
      ut.engine.settle({ ...ok(closed as string, 0), inputTokens: 1 }),
      ut.engine.settle(ok(good2 as string, 0)),
      ut.engine.settle({
        ...input(ghost as string, [`${ghost}.0123456789abcdef`], { hold: 0, ...USAGE }),
      }),
      ut.engine.settle(input(ghost as string, [], { operation: 'read_file', ...USAGE })),
      ut.engine.settle(
        input(used as string, [], { operation: 'write_file', usageId: 'use-1', ...USAGE }),
      ),
      ut.engine.settle(ok(good1 as string, 2)),
    ]);
    expect(settleCalls(from).map(settlesIn)).toEqual([9]);
    expect(got.map((r) => (r.status === 'fulfilled' ? r.value.outcome : r.reason.code))).toEqual([
      'settled',
      'RESERVATION_NOT_FOUND',
      'UNAUTHENTICATED',
      'IDEMPOTENCY_CONFLICT',
      'settled',
      'RESERVATION_NOT_FOUND',
      'NOT_FOUND',
      'IDEMPOTENCY_CONFLICT',
      'settled',
    ]);
    expect((got[3] as PromiseRejectedResult).reason.details).toMatchObject({
      reservation_id: holdsOf(closed as string)[0],
      recorded: { state: 'settled', input_tokens: 800, output_tokens: 200, result: 'success' },
    });
    // The good ones settled, each once; the others wrote nothing.
    expect(await ut.engine.status(good1 as string)).toMatchObject({
      sessionTokensUsed: 2 * 150,
      sessionTokensReserved: 2_000,
    });
    expect(await ut.engine.status(good2 as string)).toMatchObject({
      sessionTokensUsed: 150,
      sessionTokensReserved: 3_000,
    });
    expect(await agentDump(raw(), wrongKey as string)).toEqual(before.wrongKey);
    expect(await agentDump(raw(), closed as string)).toEqual(before.closed);
    expect(await agentDump(raw(), used as string)).toEqual(before.used);
    expect(await agentDump(raw(), ghost as string)).toEqual({});
  });

  it('settles that carry other alert thresholds (a policy change) go in calls of their own, in order', async () => {
    const ids = idsOfShard(3, 'sb-alerts');
    const holds = new Map<string, string[]>();
    for (const id of ids) holds.set(id, await prepare(id));
    const lists = [alertThresholds([50, 80, 100]), alertThresholds([25, 90])];
    const from = ut.calls.length;
    // 300,000 tokens: 30 % of each session.
    const got = await Promise.all(
      ids.map((id, k) =>
        ut.engine.settle({
          ...input(id, holds.get(id) as string[], {
            hold: 0,
            inputTokens: 300_000,
            outputTokens: 0,
          }),
          alerts: lists[k % 2],
        }),
      ),
    );
    expect(got.map((r) => r.outcome)).toEqual(['settled', 'settled', 'settled']);
    const calls = settleCalls(from);
    expect(calls.map((c) => [c.args[3], c.args[4], settlesIn(c), c.args[5]])).toEqual([
      ['50', '50,80,100', 1, ids[0]],
      ['25', '25,90', 1, ids[1]],
      ['50', '50,80,100', 1, ids[2]],
    ]);
    const alerted = (await ut.engine.readOutbox(shard))
      .filter((e) => e.fields.type === 'budget_alert' && ids.includes(e.fields.agent_id as string))
      .map((e) => `${e.fields.agent_id}:${e.fields.budget}:${e.fields.threshold_pct}`);
    expect(alerted).toEqual([`${ids[1]}:session:25`]);
  });
});

const USAGE = { inputTokens: 100, outputTokens: 50 };
