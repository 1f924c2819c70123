/**
 * The rig of the metered-call tests (test/meter): one engine (memory, Redis or
 * Cluster: test/support/engines.ts), a Tollgate on it, the HTTP API with the
 * gateway on a free port, and the stand-in upstream
 * (test/support/model-upstream.ts), which checks the provider key. The real
 * `openai` and `@anthropic-ai/sdk` clients reach the stand-in three ways
 * (`Route`): the library's `tg.fetch`, the SDK's `client.fetch` over HTTP, and
 * the gateway (base URL at the app, the agent's Tollgate key as the SDK's key).
 *
 *   const rig = await startMeterRig(kind);
 *   const agent = await rig.register();
 *   const { openai } = rig.clients('gateway', agent);
 *   ...
 *   await rig.close();
 */
import type { AddressInfo } from 'node:net';
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, vi } from 'vitest';
import { createApp } from '../../src/api/index.js';
import { TollgateClient } from '../../src/client/index.js';
import type { EngineStatus } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { usageCostMicros } from '../../src/models/index.js';
import type { EngineKind, EngineUnderTest } from './engines.js';
import { ENGINE_KINDS, makeEngine, uid } from './engines.js';
import { engineAgentEvents } from './exactly-once.js';
import {
  anthropicClient,
  type ModelClientOptions,
  openaiClient,
  type SdkFetch,
} from './model-clients.js';
import {
  expectedUsage,
  type ModelApi,
  type ModelUpstream,
  startModelUpstream,
  type UsageFigures,
} from './model-upstream.js';

export const ADMIN = 'test-admin-token-0123456789abcdef';
/** The deployment's provider key: the stand-in answers 401 to any other. */
export const PROVIDER_KEY = 'sk-deployment-provider-key';
export const TEXT = 'Tollgate meters this reply, piece by piece: 東京 🚀.';
/** Usage with cached tokens (OpenAI: cache reads; Anthropic: reads and 5-minute writes). */
export const FIGURES: UsageFigures = {
  inputTokens: 2000,
  outputTokens: 300,
  cacheReadTokens: 1500,
  cacheWriteTokens: 250,
  reasoningTokens: 120,
};
/** FIGURES priced by hand: 500 × $2.50 + 1500 × $1.25 + 300 × $10 per million. */
export const GPT_4O_COST = 6125;
/** 250 × $3 + 1500 × $0.30 + 250 × $3.75 + 300 × $15 per million = 6637.5, rounded up. */
export const SONNET_COST = 6638;
/** `tester` may call gpt-4o-mini only; every other role keeps any model. */
export const POLICY = { roles: { tester: { models: ['gpt-4o-mini'] } } };
export const MESSAGES = [{ role: 'user' as const, content: 'Say hello.' }];

/** How the SDK reaches the stand-in. */
export type Route = 'tg.fetch' | 'client.fetch' | 'gateway';
export const ROUTES: readonly Route[] = ['tg.fetch', 'client.fetch', 'gateway'];

/** The events of a hold's life (the agent's other events: registration, suspension…). */
const HOLD_EVENTS = new Set(['decision', 'release', 'settle']);

export interface Agent {
  id: string;
  key: string;
}

export interface MeterRig {
  ut: EngineUnderTest;
  tg: Tollgate;
  upstream: ModelUpstream;
  /** The app: `/v1/…` and the gateway (`/openai/v1`, `/anthropic/v1`). */
  base: string;
  register(o?: { role?: string; dailyCostLimit?: number }): Promise<Agent>;
  /** The SDKs, by `route`, for `agent`; `fetch` wraps the route's fetch (or is the gateway's). */
  clients(
    route: Route,
    agent: Agent,
    o?: Omit<ModelClientOptions, 'fetch'> & { wrap?: (f: SdkFetch) => SdkFetch },
  ): { openai: OpenAI; anthropic: Anthropic };
  status(agentId: string): Promise<EngineStatus>;
  /** The agent's hold events in order (decision, release, settle), as the engine wrote them. */
  events(agentId: string): Promise<Record<string, string>[]>;
  settles(agentId: string): Promise<Record<string, string>[]>;
  /** Waits (at most 5 s) until nothing is held for the agent; returns its status. */
  whenNothingHeld(agentId: string): Promise<EngineStatus>;
  close(): Promise<void>;
}

/** `figures` as `api` reports them, priced with `tg`'s table. */
export function costOf(tg: Tollgate, api: ModelApi, model: string, figures = FIGURES): number {
  return usageCostMicros(expectedUsage(api, figures), tg.policy.prices.lookup(model).price);
}

export async function startMeterRig(kind: EngineKind): Promise<MeterRig> {
  const ut = await makeEngine(kind);
  const tg = await createTollgate({ engine: ut.engine, policy: POLICY });
  const upstream = await startModelUpstream({
    text: TEXT,
    chunks: 5,
    usage: FIGURES,
    apiKey: PROVIDER_KEY,
  });
  const app = createApp({
    tollgate: tg,
    adminToken: ADMIN,
    gateway: {
      upstreams: {
        openai: { baseUrl: upstream.openaiBaseURL, apiKey: PROVIDER_KEY },
        anthropic: { baseUrl: `${upstream.url}/v1`, apiKey: PROVIDER_KEY },
      },
    },
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const status = async (agentId: string) => {
    const s = await ut.engine.status(agentId);
    if (s === null) throw new Error(`no agent ${agentId}`);
    return s;
  };
  const events = async (agentId: string) =>
    (await engineAgentEvents(ut, agentId)).filter((e) => HOLD_EVENTS.has(e.type ?? ''));

  return {
    ut,
    tg,
    upstream,
    base,
    async register(o = {}) {
      const id = uid('mt');
      const r = await tg.identity.registerAgent(
        id,
        o.role ?? 'coder',
        {},
        { dailyCostLimit: o.dailyCostLimit ?? 10 },
      );
      return { id, key: r.api_key };
    },
    clients(route, agent, o = {}) {
      const { wrap = (f) => f, ...opts } = o;
      if (route === 'gateway') {
        const gw = { ...opts, apiKey: opts.apiKey ?? agent.key, fetch: wrap(globalThis.fetch) };
        return {
          openai: openaiClient(`${base}/openai/v1`, gw),
          anthropic: anthropicClient(`${base}/anthropic`, gw),
        };
      }
      const metered =
        route === 'tg.fetch'
          ? tg.fetch({ agentId: agent.id })
          : new TollgateClient({ baseUrl: base, token: agent.key }).fetch({ agentId: agent.id });
      const direct = { ...opts, apiKey: opts.apiKey ?? PROVIDER_KEY, fetch: wrap(metered) };
      return {
        openai: openaiClient(upstream.openaiBaseURL, direct),
        anthropic: anthropicClient(upstream.anthropicBaseURL, direct),
      };
    },
    status,
    events,
    settles: async (agentId) => (await events(agentId)).filter((e) => e.type === 'settle'),
    whenNothingHeld: (agentId) =>
      vi.waitFor(
        async () => {
          const s = await status(agentId);
          if (s.sessionTokensReserved !== 0 || s.dailyReservedMicros !== 0) {
            throw new Error(`still held: ${s.sessionTokensReserved} tokens`);
          }
          return s;
        },
        { timeout: 5000, interval: 20 },
      ),
    async close() {
      await upstream.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await tg.close();
    },
  };
}

/**
 * The suite once per engine kind of the project (ENGINE_KINDS), each with a
 * rig of its own: started before its tests, closed after them, its stand-in
 * reset before each test. `body` reads the rig through `rig()`.
 */
export function describeWithRig(body: (rig: () => MeterRig) => void): void {
  describe.each(ENGINE_KINDS)('%s engine', (kind) => {
    let current: MeterRig | undefined;
    beforeAll(async () => {
      current = await startMeterRig(kind);
    });
    afterAll(() => current?.close());
    beforeEach(() => current?.upstream.reset());
    body(() => {
      if (current === undefined) throw new Error('the rig is not started');
      return current;
    });
  });
}

/** The stream's chunks, read to the end. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}
