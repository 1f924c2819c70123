/**
 * Exactly once under faults, through the library: every operation runs once
 * on a control agent, and once on a twin agent (same shard) with Redis's reply
 * dropped and the connection cut (test/support/fault-proxy.ts), so that
 * ioredis reconnects and sends the same script call again: the script runs
 * twice. The twin must end exactly as the control (every key of the agent,
 * normalised for ids and times; its outbox events), the answer must be the
 * first run's (not a 409 or a 404), and the numbers must be one run's.
 * On the private Redis and on the private Cluster (a proxy per node, natMap).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTollgate, type Tollgate } from '../../src/index.js';
import {
  agentDump,
  agentEvents,
  dropped,
  type Faulty,
  faultyStore,
  norm,
  preloadScripts,
  scriptCall,
  twinIds,
} from '../support/exactly-once.js';

type Ctx = { reservationId?: string; sessionId?: string };

interface Case {
  name: string;
  /** The script call whose reply is dropped (`lua/<script>-<keys>.lua`). */
  script: string;
  /** Before the operation (not faulted); returns what the operation needs. */
  setup?: (tg: Tollgate, id: string) => Promise<Ctx>;
  /** No agent to register first (the operation registers it). */
  noRegister?: boolean;
  op: (tg: Tollgate, id: string, ctx: Ctx) => Promise<unknown>;
  /** One run's numbers, checked on both agents after the operation. */
  check?: (tg: Tollgate, id: string, answer: unknown) => Promise<void>;
  /** Event types the operation adds (one run). */
  events: string[];
}

/** A hold of 5,000 tokens for read_file. */
async function hold(tg: Tollgate, id: string): Promise<Ctx> {
  const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 5000 });
  if (!d.allowed) throw new Error(`setup: not allowed: ${d.error_code}`);
  return { reservationId: d.reservation_id };
}

async function status(tg: Tollgate, id: string) {
  const s = await tg.budget.getBudgetStatus(id);
  if (s === null) throw new Error(`no status for ${id}`);
  return s;
}

const USAGE = { inputTokens: 1000, outputTokens: 500 };

const CASES: Case[] = [
  {
    name: 'registerAgent',
    script: 'registerAgent',
    noRegister: true,
    op: (tg, id) => tg.identity.registerAgent(id, 'coder', { team: 'qa' }),
    events: ['agent_registered'],
    check: async (tg, id) => {
      expect((await tg.identity.getAgent(id))?.status).toBe('active');
    },
  },
  {
    name: 'checkPermission (authorize, allowed)',
    script: 'authorize',
    op: (tg, id) => tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 5000 }),
    events: ['decision'],
    check: async (tg, id, answer) => {
      expect(answer).toMatchObject({ allowed: true, reservation_state: 'open' });
      const s = await status(tg, id);
      expect(s.session.tokens_reserved).toBe(5000);
      expect(s.operations_blocked).toBe(0);
    },
  },
  {
    name: 'checkPermission with a request id',
    script: 'authorize',
    op: (tg, id) =>
      tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 5000, requestId: 'req-eo-1' }),
    events: ['decision'],
    check: async (tg, id, answer) => {
      expect(answer).toMatchObject({ allowed: true, reservation_state: 'open' });
      expect((await status(tg, id)).session.tokens_reserved).toBe(5000);
    },
  },
  {
    name: 'checkPermission (authorize, denied: blocked counted once)',
    script: 'authorize',
    op: (tg, id) => tg.guard.checkPermission(id, 'unauthorized_op'),
    events: ['decision'],
    check: async (tg, id, answer) => {
      expect(answer).toMatchObject({ allowed: false, error_code: 'RBAC_DENIED' });
      const s = await status(tg, id);
      expect(s.operations_blocked).toBe(1);
      expect(s.session.tokens_reserved).toBe(0);
    },
  },
  {
    name: 'recordOperation with a reservation id (settle)',
    script: 'settle',
    setup: hold,
    op: (tg, id, ctx) =>
      tg.guard.recordOperation(id, 'read_file', USAGE, 'success', ctx.reservationId),
    events: ['settle'],
    check: async (tg, id) => {
      const s = await status(tg, id);
      expect(s.session).toMatchObject({ tokens_used: 1500, tokens_reserved: 0 });
    },
  },
  {
    name: 'recordOperation without a reservation id (settle by operation)',
    script: 'settle',
    setup: hold,
    op: (tg, id) => tg.guard.recordOperation(id, 'read_file', USAGE),
    events: ['settle'],
    check: async (tg, id, answer) => {
      expect(answer).toMatchObject({ success: true });
      expect((answer as { outcome: string }).outcome).not.toBe('no_hold');
      const s = await status(tg, id);
      expect(s.session).toMatchObject({ tokens_used: 1500, tokens_reserved: 0 });
    },
  },
  {
    name: 'recordOperation with no hold (the usage it records)',
    script: 'recordUsage',
    op: (tg, id) => tg.guard.recordOperation(id, 'read_file', USAGE),
    events: ['usage'],
    check: async (tg, id, answer) => {
      expect(answer).toMatchObject({ outcome: 'no_hold', reservation_id: null });
      expect((await status(tg, id)).session.tokens_used).toBe(1500);
    },
  },
  {
    name: 'recordOperation with no hold (its settle that finds none)',
    script: 'settle',
    op: (tg, id) => tg.guard.recordOperation(id, 'read_file', USAGE),
    events: ['usage'],
    check: async (tg, id, answer) => {
      expect(answer).toMatchObject({ outcome: 'no_hold' });
      expect((await status(tg, id)).session.tokens_used).toBe(1500);
    },
  },
  {
    name: 'releaseReservation',
    script: 'release',
    setup: hold,
    op: (tg, _id, ctx) => tg.guard.releaseReservation(ctx.reservationId as string),
    events: ['release'],
    check: async (tg, id) => {
      expect((await status(tg, id)).session).toMatchObject({ tokens_used: 0, tokens_reserved: 0 });
    },
  },
  {
    name: 'deductBudget (usage)',
    script: 'recordUsage',
    op: (tg, id) => tg.budget.deductBudget(id, 1000, 500),
    events: ['usage'],
    check: async (tg, id) => {
      expect((await status(tg, id)).session.tokens_used).toBe(1500);
    },
  },
  ...(['createSession', 'resetSession', 'createSession with its id'] as const).map(
    (which): Case => ({
      name: which,
      script: 'startSession',
      setup: async (tg, id) => {
        await tg.budget.deductBudget(id, 1000, 500);
        return hold(tg, id);
      },
      op: (tg, id) =>
        which === 'resetSession'
          ? tg.budget.resetSession(id)
          : tg.identity.createSession(
              id,
              which === 'createSession' ? undefined : `${id}.00000000000000e0`,
            ),
      events: ['session_ended', 'session_started'],
      check: async (tg, id) => {
        const s = await status(tg, id);
        // The open hold moved into the new session; nothing used in it yet.
        expect(s.session).toMatchObject({ tokens_used: 0, tokens_reserved: 5000 });
      },
    }),
  ),
  {
    name: 'endSession',
    script: 'startSession',
    setup: async (tg, id) => {
      await tg.budget.deductBudget(id, 1000, 500);
      return { sessionId: (await status(tg, id)).session.session_id };
    },
    op: (tg, id, ctx) => tg.identity.endSession(id, ctx.sessionId),
    events: ['session_ended', 'session_started'],
    check: async (tg, id, answer) => {
      expect(answer).toMatchObject({ tokens_used: 1500 });
      expect((await status(tg, id)).session.tokens_used).toBe(0);
    },
  },
  {
    name: 'suspendAgent',
    script: 'updateAgent',
    op: (tg, id) => tg.identity.suspendAgent(id),
    events: ['agent_suspended'],
    check: async (tg, id) => {
      expect((await tg.identity.getAgent(id))?.status).toBe('suspended');
    },
  },
  {
    name: 'resumeAgent',
    script: 'updateAgent',
    setup: async (tg, id) => {
      await tg.identity.suspendAgent(id);
      return {};
    },
    op: (tg, id) => tg.identity.resumeAgent(id),
    events: ['agent_resumed'],
  },
  {
    name: 'rotateKey',
    script: 'updateAgent',
    op: (tg, id) => tg.identity.rotateKey(id),
    events: ['key_rotated'],
  },
  {
    name: 'setRole (role and limits)',
    script: 'updateAgent',
    op: (tg, id) => tg.identity.setRole(id, 'backend-dev', { sessionTokenLimit: 12345 }),
    events: ['agent_updated'],
    check: async (tg, id) => {
      expect((await status(tg, id)).session.tokens_limit).toBe(12345);
    },
  },
  {
    name: 'setLimits',
    script: 'updateAgent',
    op: (tg, id) => tg.budget.setLimits(id, { sessionTokenLimit: 4321, dailyCostLimit: 3 }),
    events: ['limits_changed'],
  },
  {
    name: 'setMetadata',
    script: 'updateAgent',
    op: (tg, id) => tg.identity.setMetadata(id, { owner: 'x' }),
    events: ['agent_updated'],
  },
  {
    name: 'deleteAgent',
    script: 'deleteAgent',
    setup: hold,
    op: (tg, id) => tg.identity.deleteAgent(id),
    events: ['agent_deleted'],
    check: async (tg, id) => {
      expect(await tg.budget.getBudgetStatus(id)).toBeNull();
    },
  },
];

describe.each(['redis', 'cluster'] as const)('%s: a dropped reply, resent', (kind) => {
  let store: Faulty;
  let tg: Tollgate;

  beforeAll(async () => {
    store = await faultyStore(kind);
    await preloadScripts(store.raw);
    tg = await createTollgate({ redis: store.target });
  });
  afterAll(async () => {
    await tg?.close();
    await store?.close();
  });

  it("ioredis sends an unanswered command again after the cut (Tollgate's client options)", async () => {
    const key = `{eo}:incr:${twinIds()[0]}`;
    const fired = store.armDropNextReply({ match: key });
    const r = await store.client.eval("return redis.call('INCR', KEYS[1])", 1, key);
    expect(await dropped(fired), 'the reply was not dropped').toBeDefined();
    // It ran twice: the answer is the second run's. This is the fault the cases below meet.
    expect(r).toBe(2);
    expect(await store.raw.get(key)).toBe('2');
    await store.raw.del(key);
  });

  it.each(CASES)('$name: one run', async (c) => {
    const [control, twin] = twinIds();
    const ctx: Record<string, Ctx> = {};
    for (const id of [control, twin]) {
      if (!c.noRegister) await tg.identity.registerAgent(id, 'coder');
      ctx[id] = (await c.setup?.(tg, id)) ?? {};
    }
    const before = {
      control: (await agentEvents(store.raw, control)).length,
      twin: (await agentEvents(store.raw, twin)).length,
    };

    const answerControl = await c.op(tg, control, ctx[control] as Ctx);
    const fired = store.armDropNextReply({ match: scriptCall(c.script, twin) });
    const answerTwin = await c.op(tg, twin, ctx[twin] as Ctx).finally(() => store.disarm());
    const drop = await dropped(fired);
    expect(drop, `the reply of ${c.script} for the twin was not dropped`).toBeDefined();

    const ids = [control, twin];
    // The first run's answer (a replay may say so, and a settle may say already_closed).
    const drops = ['replayed', 'outcome'];
    expect(norm(answerTwin, ids, drops)).toEqual(norm(answerControl, ids, drops));
    const outcome = (answerControl as { outcome?: string } | null)?.outcome;
    if (outcome !== undefined) {
      expect([outcome, 'already_closed']).toContain((answerTwin as { outcome: string }).outcome);
    }
    // Every key of the agent as after one run.
    expect(norm(await agentDump(store.raw, twin), ids)).toEqual(
      norm(await agentDump(store.raw, control), ids),
    );
    // Its events: one run's.
    const evTwin = (await agentEvents(store.raw, twin)).slice(before.twin);
    const evControl = (await agentEvents(store.raw, control)).slice(before.control);
    expect(evControl.map((e) => e.type)).toEqual(c.events);
    expect(norm(evTwin, ids)).toEqual(norm(evControl, ids));
    for (const id of ids) {
      await c.check?.(tg, id, id === twin ? answerTwin : answerControl);
    }
  });
});
