/**
 * The three loads, each one autocannon run (a warm-up run first): GET
 * /healthz, POST /v1/authorize alone, and authorize → settle chained on one
 * connection (the settle body carries the reservation_id the authorize
 * returned). Bodies spread round-robin over the agents; every request uses
 * the admin token. Latencies are taken here, per request kind, with
 * performance.now() between setupRequest (the request is built just before
 * it is written) and onResponse: autocannon's own histogram is whole ms.
 */
import autocannon from 'autocannon';
import { LatencyRecorder } from '../lib/stats.js';
import { agentIds, WORKLOAD } from '../lib/workload.js';
import { CONFIG } from './config.js';

export type ScenarioName = 'trivial' | 'authorize' | 'pair';
export type RequestKind = 'healthz' | 'authorize' | 'settle' | 'pair';

interface Ctx {
  t0?: number;
  pairT0?: number;
  reservation?: string;
}

export interface KindFigures {
  ok: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
}

export interface RunResult {
  scenario: ScenarioName;
  /** autocannon's run length, s. */
  seconds: number;
  /** HTTP responses per second (both requests of a pair). */
  reqPerSec: number;
  /** Per request kind; `pair` is authorize sent → settle answered. */
  kinds: Partial<Record<RequestKind, KindFigures>>;
  /** Connection errors + timeouts + non-2xx + wrong bodies. */
  problems: string[];
}

class Sink {
  readonly lat = new Map<RequestKind, LatencyRecorder>();
  readonly failed = new Map<RequestKind, number>();
  sample = '';

  ok(kind: RequestKind, ms: number): void {
    let r = this.lat.get(kind);
    if (r === undefined) {
      r = new LatencyRecorder();
      this.lat.set(kind, r);
    }
    r.add(ms);
  }

  fail(kind: RequestKind, status: number, body: string): void {
    this.failed.set(kind, (this.failed.get(kind) ?? 0) + 1);
    if (this.sample === '') this.sample = `${kind} ${status}: ${body.slice(0, 300)}`;
  }
}

const RESERVATION = /"reservation_id":"([^"]+)"/;
const SETTLED = '"outcome":"settled"';
const asCtx = (c: object) => c as Ctx;
/** setupRequest's "skip the rest of this sequence" (autocannon restarts from the first request). */
const RESTART = null as unknown as autocannon.Request;

function requestsFor(scenario: ScenarioName, sink: () => Sink): autocannon.Request[] {
  if (scenario === 'trivial') {
    return [
      {
        method: 'GET',
        path: '/healthz',
        setupRequest: (req, c) => {
          asCtx(c).t0 = performance.now();
          return req;
        },
        onResponse: (status, body, c) => {
          const ms = performance.now() - (asCtx(c).t0 ?? 0);
          if (status === 200) sink().ok('healthz', ms);
          else sink().fail('healthz', status, body);
        },
      },
    ];
  }
  const bodies = agentIds().map((agent_id) =>
    JSON.stringify({
      agent_id,
      operation: WORKLOAD.operation,
      estimated_tokens: WORKLOAD.estimatedTokens,
    }),
  );
  let seq = 0;
  const authorize: autocannon.Request = {
    method: 'POST',
    path: '/v1/authorize',
    setupRequest: (req, c) => {
      const ctx = asCtx(c);
      ctx.t0 = performance.now();
      ctx.pairT0 = ctx.t0;
      ctx.reservation = undefined;
      return { ...req, body: bodies[seq++ % bodies.length] };
    },
    onResponse: (status, body, c) => {
      const ctx = asCtx(c);
      const ms = performance.now() - (ctx.t0 ?? 0);
      const id = status === 200 ? RESERVATION.exec(body)?.[1] : undefined;
      if (id === undefined) {
        sink().fail('authorize', status, body);
        return;
      }
      sink().ok('authorize', ms);
      ctx.reservation = id;
    },
  };
  if (scenario === 'authorize') return [authorize];
  const settle: autocannon.Request = {
    method: 'POST',
    path: '/v1/settle',
    setupRequest: (req, c) => {
      const ctx = asCtx(c);
      if (ctx.reservation === undefined) return RESTART;
      ctx.t0 = performance.now();
      return {
        ...req,
        body: `{"reservation_id":"${ctx.reservation}","input_tokens":${WORKLOAD.usage.inputTokens},"output_tokens":${WORKLOAD.usage.outputTokens},"result":"success"}`,
      };
    },
    onResponse: (status, body, c) => {
      const ctx = asCtx(c);
      const now = performance.now();
      if (status !== 200 || !body.includes(SETTLED)) {
        sink().fail('settle', status, body);
        return;
      }
      sink().ok('settle', now - (ctx.t0 ?? 0));
      sink().ok('pair', now - (ctx.pairT0 ?? 0));
    },
  };
  return [authorize, settle];
}

function cannon(
  port: number,
  seconds: number,
  requests: autocannon.Request[],
): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONFIG.connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${CONFIG.adminToken}`,
    },
    requests,
  });
}

export interface RunHooks {
  /** Awaited after the warm-up, just before the measured run. */
  before(): Promise<void>;
  /** Awaited right after the measured run. */
  after(): Promise<void>;
}

export async function runScenario(
  port: number,
  scenario: ScenarioName,
  hooks: RunHooks,
): Promise<RunResult> {
  let sink = new Sink();
  const requests = requestsFor(scenario, () => sink);
  await cannon(port, CONFIG.warmupSeconds, requests);
  sink = new Sink();
  await hooks.before();
  const r = await cannon(port, CONFIG.durationSeconds, requests);
  await hooks.after();

  const problems: string[] = [];
  if (r.errors > 0) problems.push(`${r.errors} connection errors (${r.timeouts} timeouts)`);
  if (r.non2xx > 0) problems.push(`${r.non2xx} non-2xx responses`);
  for (const [kind, n] of sink.failed) problems.push(`${n} failed ${kind} (${sink.sample})`);

  const kinds: RunResult['kinds'] = {};
  let responses = 0;
  for (const [kind, rec] of sink.lat) {
    const { p50, p99 } = rec.summary();
    const failed = sink.failed.get(kind) ?? 0;
    kinds[kind] = { ok: rec.count, failed, p50Ms: p50, p99Ms: p99 };
    if (kind !== 'pair') responses += rec.count + failed;
  }
  return { scenario, seconds: r.duration, reqPerSec: responses / r.duration, kinds, problems };
}
