/**
 * The model gateway (docs/gateway.md): OpenAI's API under `/openai/v1` (chat
 * completions, responses, models) and Anthropic's under `/anthropic/v1`
 * (messages). An agent calls it with its own Tollgate key; each model call is
 * held, forwarded with the deployment's provider key, streamed back as it
 * arrives and settled as the SDKs' fetch does (src/meter). Answers Tollgate
 * gives itself (a denial, a bad key, a body too large) are in the provider's
 * error shape, so any client of that provider reads them.
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { GatewayUpstreams } from '../../config/gateway.js';
import { usdToMicros } from '../../engine/money.js';
import { isTollgateError, TollgateError } from '../../errors.js';
import { Guard } from '../../guard/guard.js';
import { type MeteredAnswer, meterAnswer } from '../../meter/call.js';
import { type LazyTokenCounter, lazyTokenCounter } from '../../meter/counter.js';
import type { ModelCallSettle, ModelGate } from '../../meter/gate.js';
import { guardGate } from '../../meter/guard-gate.js';
import { errorResponse } from '../../meter/refusal.js';
import type { UpstreamAnswer, UpstreamFetch } from '../../meter/upstream.js';
import type { DecisionRecorder, InFlight } from '../../metrics/index.js';
import type { ModelApi } from '../../models/types.js';
import type { Tollgate } from '../../tollgate.js';
import { STATUS_OF } from '../errors.js';
import { withTimeout } from '../route.js';
import { type GatewayCaller, gatewayCaller } from './agent-key.js';
import { readBody } from './body.js';
import { type Provider, RESPONSE_DROPPED, upstreamHeaders, upstreamUrl } from './upstream.js';
import { upstreamHttp } from './upstream-http.js';

export interface GatewayOptions {
  tollgate: Tollgate;
  upstreams: GatewayUpstreams;
  /** Largest request body (default 32 MiB: images and files travel inline). */
  bodyLimitBytes?: number;
  /** Tollgate's own steps (hold, settle) fail closed after this: 503. Default 10 000 ms. */
  gateTimeoutMs?: number;
  /** How upstreams are reached (default: node:http with a keep-alive agent, upstream-http.ts). */
  fetch?: UpstreamFetch;
  /** Bugs and failed settles (never client errors). Default console.error. */
  logError?: (message: string, error: unknown) => void;
  /** Where settles are counted (spend by role and by model, overruns: docs/metrics.md). */
  metrics?: DecisionRecorder;
  /** Settles sent and not yet counted in `metrics` (a scrape waits for them). */
  inFlight?: InFlight;
}

export const GATEWAY_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

/**
 * How long a gateway connection may stay silent both ways: a model may think
 * for minutes before its first byte (the SDKs wait 10 minutes). The server's
 * own idle limit (TOLLGATE_HTTP_REQUEST_TIMEOUT_MS) is for the other routes.
 */
export const GATEWAY_IDLE_MS = 600_000;

/** The routes: [method, path under the prefix, the API it meters or undefined to pass through]. */
const ROUTES: Record<
  Provider,
  readonly (readonly ['get' | 'post', string, ModelApi | undefined])[]
> = {
  openai: [
    ['post', '/chat/completions', 'chat'],
    ['post', '/responses', 'responses'],
    ['get', '/models', undefined],
    ['get', '/models/:model', undefined],
  ],
  anthropic: [['post', '/messages', 'messages']],
};

/** The API whose error shape a provider's answers take. */
const SHAPE: Record<Provider, ModelApi> = { openai: 'chat', anthropic: 'messages' };

/**
 * The caller's gate: the Guard with its key digest; an agent that does not
 * exist is a bad key (401). A recorded settle is counted in the metrics when
 * the store answers; until then it is in `inFlight`, which a scrape waits for.
 */
function callerGate(
  guard: Guard,
  caller: GatewayCaller,
  timeoutMs: number,
  metrics: DecisionRecorder | undefined,
  inFlight: InFlight | undefined,
): ModelGate {
  const gate = guardGate(guard, caller.agentId, { keyDigest: caller.keyDigest });
  return {
    authorize: async (hold) => {
      const d = await withTimeout(gate.authorize(hold), timeoutMs);
      if (!d.allowed && d.error_code === 'AGENT_NOT_FOUND') {
        throw new TollgateError('UNAUTHENTICATED', 'Invalid agent key');
      }
      return d;
    },
    settle: (id, s) => {
      const counted = settleCounted(id, s);
      inFlight?.track(counted);
      return counted;
    },
    release: (id) => withTimeout(gate.release(id), timeoutMs),
  };

  async function settleCounted(id: string, s: ModelCallSettle) {
    const answer = await withTimeout(
      guard.settleModelCall(id, s, { keyDigest: caller.keyDigest }),
      timeoutMs,
    );
    if (answer.outcome === 'settled') {
      const role = answer.budget_status.role;
      metrics?.settled?.({
        role,
        overrunTokens: answer.overrun_tokens,
        overrunMicros: usdToMicros(answer.overrun_cost),
      });
      metrics?.spent?.({
        role,
        costMicros: usdToMicros(answer.cost),
        inputTokens: s.usage.inputTokens,
        outputTokens: s.usage.outputTokens,
      });
      metrics?.modelCall?.({
        model: s.model,
        costMicros: usdToMicros(answer.cost),
        usage: s.usage,
      });
    }
    return answer;
  }
}

/** A Tollgate error as the provider would answer it; anything else is the upstream's failure (502). */
function refusal(
  provider: Provider,
  e: unknown,
  log: GatewayOptions['logError'],
): globalThis.Response {
  const api = SHAPE[provider];
  if (isTollgateError(e)) {
    const status = STATUS_OF[e.code];
    const type =
      status === 401
        ? 'authentication_error'
        : status === 403
          ? 'permission_error'
          : status === 404
            ? 'not_found_error'
            : status === 413
              ? 'request_too_large'
              : status >= 500
                ? 'api_error'
                : 'invalid_request_error';
    const details = status >= 500 ? {} : { details: e.details };
    return errorResponse(api, status, type, status >= 500 ? 'Tollgate is unavailable' : e.message, {
      code: e.code,
      ...details,
    });
  }
  // Not Tollgate's: the upstream could not be reached or cut its answer (the hold was released
  // or settled as an estimate). 502, which the SDKs retry as a new call.
  if ((e as Error | undefined)?.name !== 'AbortError') log?.('gateway: the upstream failed', e);
  return errorResponse(api, 502, 'api_error', 'The upstream did not answer', {
    code: 'UPSTREAM_FAILED',
  });
}

/** The answer's status and headers on `res`. */
function head(res: Response, answer: globalThis.Response | UpstreamAnswer | MeteredAnswer): void {
  res.status(answer.status);
  answer.headers.forEach((value, name) => {
    if (!RESPONSE_DROPPED.has(name)) res.setHeader(name, value);
  });
}

/**
 * Sends an answer through Express: a metered JSON answer's text in one write
 * (headers and body together) when it is delivered, just before its settle
 * is written to the store (`deliver`, src/meter/call.ts); any other body as it
 * arrives. A caller gone mid-way cancels it.
 */
async function send(
  res: Response,
  answer: globalThis.Response | UpstreamAnswer | MeteredAnswer,
): Promise<void> {
  const body = answer.body;
  if ('metered' in answer && typeof body === 'string') {
    let give = (): void => {};
    try {
      head(res, answer);
      // writeHead stores the head; it goes out with the body, in res.end.
      res.setHeader('content-length', Buffer.byteLength(body));
      res.writeHead(answer.status);
      give = () => res.end(body);
    } finally {
      // Delivered even when the head cannot be made: the call is settled all the same.
      await answer.deliver?.(() => give());
    }
    return;
  }
  head(res, answer);
  if (body === null || typeof body === 'string') {
    res.end(body ?? undefined);
    return;
  }
  res.flushHeaders();
  await pump(body, res);
}

/**
 * Writes a stream's chunks to the caller as they come, waiting for 'drain' when
 * the socket is full. The caller gone cancels the stream; the stream failing
 * (the upstream cut it) cuts the caller's connection, so it sees no clean end.
 * What pipeline(Readable.fromWeb(body), res) does, without its two extra
 * streams per answer.
 */
async function pump(body: ReadableStream<Uint8Array>, res: Response): Promise<void> {
  const reader = body.getReader();
  let wake: (() => void) | undefined;
  const gone = () => {
    wake?.();
    reader.cancel().catch(() => {});
  };
  res.once('close', gone);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (res.destroyed) {
        gone();
        return;
      }
      if (done) {
        res.end();
        return;
      }
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          res.once('drain', resolve);
        });
        wake = undefined;
      }
    }
  } catch (e) {
    // The upstream cut the stream: the meter settled what it could.
    res.destroy(e as Error);
  } finally {
    res.off('close', gone);
  }
}

export function gatewayRouter(o: GatewayOptions): Router {
  const router = express.Router({ caseSensitive: true, strict: false });
  const guard = new Guard({ engine: o.tollgate.engine, policy: o.tollgate.policy, actor: 'agent' });
  const counter: LazyTokenCounter = lazyTokenCounter();
  const upstreamFetch = o.fetch ?? upstreamHttp();
  const limit = o.bodyLimitBytes ?? GATEWAY_BODY_LIMIT_BYTES;
  const parseBody = express.raw({ type: () => true, limit });
  const timeoutMs = o.gateTimeoutMs ?? 10_000;
  const log = o.logError ?? ((m: string, e: unknown) => console.error(`tollgate ${m}`, e));

  for (const provider of ['openai', 'anthropic'] as const) {
    const prefix = `/${provider}/v1`;
    for (const [method, path, api] of ROUTES[provider]) {
      router[method](`${prefix}${path}`, async (req: Request, res: Response) => {
        const answer = await handle(provider, api, req, res).catch((e: unknown) =>
          refusal(provider, e, log),
        );
        await send(res, answer);
      });
    }
    router.use(prefix, (_req: Request, res: Response) =>
      send(
        res,
        errorResponse(
          SHAPE[provider],
          404,
          'not_found_error',
          'The gateway does not serve this path',
        ),
      ),
    );
  }

  async function handle(
    provider: Provider,
    api: ModelApi | undefined,
    req: Request,
    res: Response,
  ): Promise<globalThis.Response | UpstreamAnswer | MeteredAnswer> {
    req.socket.setTimeout(GATEWAY_IDLE_MS);
    const caller = gatewayCaller(req.headers);
    const upstream = o.upstreams[provider];
    if (upstream === undefined) {
      throw new TollgateError('NOT_FOUND', `This gateway has no ${provider} upstream`, {
        provider,
      });
    }
    const url = new URL(req.originalUrl, 'http://gateway');
    const rest = url.pathname.slice(`/${provider}/v1`.length);
    const target = upstreamUrl(upstream.baseUrl, rest, url.search);
    const headers = upstreamHeaders(provider, req.headers, upstream.apiKey);
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    if (api === undefined) {
      // Not a model call (the model list): the key must be its agent's current key.
      await withTimeout(requireCurrentKey(o.tollgate, caller), timeoutMs);
      return upstreamFetch(target, { method: req.method, headers, signal: abort.signal });
    }
    const body = (await readBody(req, res, parseBody, limit)).toString('utf8');
    return meterAnswer(
      api,
      { url: target, method: 'POST', headers, body, signal: abort.signal },
      {
        gate: callerGate(guard, caller, timeoutMs, o.metrics, o.inFlight),
        counter,
        fetch: upstreamFetch,
        onError: (e) => log('gateway: settle failed', e),
      },
    );
  }

  return router;
}

/** The caller's key is its agent's current key (401 otherwise). */
async function requireCurrentKey(tollgate: Tollgate, caller: GatewayCaller): Promise<void> {
  const agent = await tollgate.engine.getAgent(caller.agentId);
  // Compared in constant time, as every key is (src/identity/api-key.ts).
  const a = Buffer.from(agent?.keyDigest ?? '', 'hex');
  const b = Buffer.from(caller.keyDigest, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new TollgateError('UNAUTHENTICATED', 'Invalid agent key');
  }
}
