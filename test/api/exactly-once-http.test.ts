/**
 * Exactly once under faults, through the SDK over HTTP: an API server whose
 * Redis client goes through a fault proxy, and a second proxy between the SDK
 * and the server. Each write runs once on a control agent, and once on a twin
 * agent (same shard) with a fault:
 * - `redis`: Redis's reply to the script call is dropped and the connection
 *   cut; ioredis sends the same call again (the script runs twice);
 * - `http`: the server's HTTP response is dropped and the connection cut;
 *   the SDK retries with the same ids (the route runs twice).
 * The twin must end as the control (every key, normalised; its outbox
 * events), and the SDK's answer must be the first run's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TollgateClient } from '../../src/client/index.js';
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
import { FaultProxy } from '../support/fault-proxy.js';
import { ADMIN, type Api, startApi } from './harness.js';

type Ctx = { reservationId?: string; sessionId?: string };

interface Case {
  name: string;
  /** The script call whose reply is dropped (redis fault). */
  script: string;
  /** The request line the SDK sends (http fault). */
  request: (id: string) => string;
  /** The agent is registered by the operation itself. */
  noRegister?: boolean;
  setup?: (sdk: TollgateClient, id: string) => Promise<Ctx>;
  op: (sdk: TollgateClient, id: string, ctx: Ctx) => Promise<unknown>;
  events: string[];
  check?: (admin: TollgateClient, id: string, answer: unknown) => Promise<void>;
}

async function hold(sdk: TollgateClient, id: string): Promise<Ctx> {
  const d = await sdk.authorize({ agent_id: id, operation: 'read_file', estimated_tokens: 5000 });
  if (!d.allowed) throw new Error(`setup: not allowed: ${d.error_code}`);
  return { reservationId: d.reservation_id };
}

const CASES: Case[] = [
  {
    name: 'registerAgent',
    script: 'registerAgent',
    request: () => 'POST /v1/agents ',
    noRegister: true,
    op: (sdk, id) => sdk.registerAgent({ agent_id: id, role: 'coder' }),
    events: ['agent_registered'],
  },
  {
    name: 'authorize',
    script: 'authorize',
    request: () => 'POST /v1/authorize ',
    op: (sdk, id) =>
      sdk.authorize({ agent_id: id, operation: 'read_file', estimated_tokens: 5000 }),
    events: ['decision'],
    check: async (admin, id, answer) => {
      expect(answer).toMatchObject({ allowed: true, reservation_state: 'open' });
      expect((await admin.getBudgetStatus(id)).session.tokens_reserved).toBe(5000);
    },
  },
  {
    name: 'settle',
    script: 'settle',
    request: () => 'POST /v1/settle ',
    setup: hold,
    op: (sdk, _id, ctx) =>
      sdk.settle({
        reservation_id: ctx.reservationId as string,
        input_tokens: 1000,
        output_tokens: 500,
        result: 'success',
      }),
    events: ['settle'],
    check: async (admin, id) => {
      expect((await admin.getBudgetStatus(id)).session).toMatchObject({
        tokens_used: 1500,
        tokens_reserved: 0,
      });
    },
  },
  {
    name: 'release',
    script: 'release',
    request: () => 'POST /v1/release ',
    setup: hold,
    op: (sdk, _id, ctx) => sdk.release(ctx.reservationId as string),
    events: ['release'],
  },
  {
    name: 'recordUsage',
    script: 'recordUsage',
    request: () => 'POST /v1/usage ',
    op: (sdk, id) =>
      sdk.recordUsage({
        agent_id: id,
        operation: 'read_file',
        input_tokens: 1000,
        output_tokens: 500,
      }),
    events: ['usage'],
    check: async (admin, id) => {
      expect((await admin.getBudgetStatus(id)).session.tokens_used).toBe(1500);
    },
  },
  {
    name: 'startSession',
    script: 'startSession',
    request: (id) => `POST /v1/agents/${id}/sessions `,
    setup: hold,
    op: (sdk, id) => sdk.startSession(id),
    events: ['session_ended', 'session_started'],
    check: async (admin, id) => {
      expect((await admin.getBudgetStatus(id)).session.tokens_reserved).toBe(5000);
    },
  },
  {
    name: 'endSession',
    script: 'startSession',
    request: (id) => `DELETE /v1/agents/${id}/sessions/`,
    setup: async (sdk, id) => ({ sessionId: (await sdk.getBudgetStatus(id)).session.session_id }),
    op: (sdk, id, ctx) => sdk.endSession(id, ctx.sessionId as string),
    events: ['session_ended', 'session_started'],
  },
];

describe('the SDK over HTTP, a server on Redis', () => {
  let store: Faulty;
  let api: Api;
  let front: FaultProxy;
  let admin: TollgateClient;
  const keys = new Map<string, string>();

  beforeAll(async () => {
    store = await faultyStore('redis');
    await preloadScripts(store.raw);
    api = await startApi({ tollgate: { redis: store.target } });
    const u = new URL(api.base);
    front = await FaultProxy.start({ host: u.hostname, port: Number(u.port) });
    admin = sdk(ADMIN);
  });
  afterAll(async () => {
    await front?.close();
    await api?.close();
    await store?.close();
  });

  function sdk(token: string): TollgateClient {
    return new TollgateClient({
      baseUrl: `http://127.0.0.1:${front.port}`,
      token,
      retries: 4,
      backoffMs: 20,
      timeoutMs: 5_000,
    });
  }
  /** The agent's own SDK (its key), the admin's before it has one. */
  const as = (id: string) => {
    const key = keys.get(id);
    return key === undefined ? admin : sdk(key);
  };

  describe.each(['redis', 'http'] as const)('fault: %s reply dropped', (fault) => {
    it.each(CASES)('$name: one effect', async (c) => {
      const [control, twin] = twinIds('eh');
      const ctx: Record<string, Ctx> = {};
      for (const id of [control, twin]) {
        if (!c.noRegister) {
          const r = await admin.registerAgent({ agent_id: id, role: 'coder' });
          keys.set(id, r.api_key);
        }
        ctx[id] = (await c.setup?.(as(id), id)) ?? {};
      }
      const before = {
        control: (await agentEvents(store.raw, control)).length,
        twin: (await agentEvents(store.raw, twin)).length,
      };

      const answerControl = await c.op(as(control), control, ctx[control] as Ctx);
      const fired =
        fault === 'redis'
          ? store.armDropNextReply({ match: scriptCall(c.script, twin) })
          : front.armDropNextReply({ match: c.request(twin) });
      const answerTwin = await c
        .op(as(twin), twin, ctx[twin] as Ctx)
        .finally(() => (fault === 'redis' ? store.disarm() : front.disarm()));
      expect(await dropped(fired), 'the fault did not fire').toBeDefined();

      const ids = [control, twin];
      const drops = ['replayed', 'outcome'];
      expect(norm(answerTwin, ids, drops)).toEqual(norm(answerControl, ids, drops));
      const outcome = (answerControl as { outcome?: string }).outcome;
      if (outcome !== undefined) {
        expect([outcome, 'already_closed']).toContain((answerTwin as { outcome: string }).outcome);
      }
      expect(norm(await agentDump(store.raw, twin), ids)).toEqual(
        norm(await agentDump(store.raw, control), ids),
      );
      const evTwin = (await agentEvents(store.raw, twin)).slice(before.twin);
      const evControl = (await agentEvents(store.raw, control)).slice(before.control);
      expect(evControl.map((e) => e.type)).toEqual(c.events);
      expect(norm(evTwin, ids)).toEqual(norm(evControl, ids));
      for (const id of ids) await c.check?.(admin, id, id === twin ? answerTwin : answerControl);
    });
  });
});
