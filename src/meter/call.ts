/**
 * One metered model call (docs/models.md, "The fetch and the gateway"): read
 * the request, hold it, send it upstream, settle it from the usage, and give
 * the caller the provider's answer. The fetch for the SDKs and the gateway
 * both run it; they differ only in their gate and in how they reach the
 * upstream.
 *
 * - denied: the provider-shaped 402/403 (src/meter/refusal.ts); the upstream is not called;
 * - the upstream fails to answer, or answers an HTTP error: the hold is released;
 * - a JSON answer: settled from its `usage` when it is delivered; the caller
 *   gets it just before the settle is written to the store, in the same run
 *   of JavaScript, so that what the caller does next through the same
 *   Tollgate goes out after the settle and sees it; where the gate cannot
 *   tell that (the SDK's, over HTTP), once the settle is recorded;
 * - a stream: settled at its first terminal usage event; cut, cancelled or
 *   ended before one: the hold is settled as an estimate (`estimated`). The
 *   stream ends for the caller only once its settle is recorded.
 */
import { STATUS_OF } from '../api/errors.js';
import { isTollgateError } from '../errors.js';
import { heldInputTokens } from '../models/hold.js';
import { meteredBody } from '../models/metered-body.js';
import { parseModelRequest } from '../models/request.js';
import type { ModelRequest } from '../models/request-types.js';
import { createStreamMeter } from '../models/stream-meter.js';
import { countingFor } from '../models/token-counter.js';
import type { ModelApi, Usage } from '../models/types.js';
import { usageFromBody } from '../models/usage.js';
import type { LazyTokenCounter } from './counter.js';
import type { ModelCallHold, ModelGate } from './gate.js';
import { denialResponse, errorResponse } from './refusal.js';
import {
  type AnswerHeaders,
  NULL_BODY_STATUSES,
  type UpstreamAnswer,
  type UpstreamFetch,
} from './upstream.js';

/** A request on its way upstream: the body as text, headers ready to send. */
export interface OutgoingCall {
  url: string;
  method: string;
  headers: Headers;
  body: string;
  signal?: AbortSignal | null;
}

/** `A`: the upstream's answer (a fetch Response for the SDKs' fetch; src/meter/upstream.ts). */
export interface MeterDeps<A extends UpstreamAnswer = Response> {
  gate: ModelGate;
  counter: LazyTokenCounter;
  /** How the upstream is reached. */
  fetch: UpstreamFetch<A>;
  /** Tokens held per image, file or audio part (default 1,600). */
  attachmentTokens?: number;
  /**
   * A settle that failed after the provider answered. The caller still gets
   * the answer (throwing would make the SDK send the call again, and pay
   * twice); the hold stays open until its lease ends. Default: console.error.
   */
  onError?: (error: unknown) => void;
}

/**
 * The upstream's answer, metered, before it is a Response: a JSON answer's
 * text, handed to the caller by `deliver`, or its stream (metered, ended once
 * settled). The gateway sends it as it is (a text in one write); meterCall
 * wraps it in a Response for the SDKs.
 */
export interface MeteredAnswer {
  readonly metered: true;
  status: number;
  statusText: string;
  /** The upstream's headers as received: content-length and -encoding describe its bytes. */
  headers: AnswerHeaders;
  body: string | ReadableStream<Uint8Array>;
  /**
   * A JSON answer's delivery (none for a stream), to be called once its head
   * is ready: it settles the call and calls `give`, which hands the text to
   * the caller, synchronously just before the settle is written to the store
   * (ModelCallSettle.onSending), or once the settle is recorded where the gate
   * cannot tell that. Resolves once `give` has run (a failed settle went to
   * onError, and `give` runs then); rejects only with what `give` throws.
   */
  deliver?: (give: () => void) => Promise<void>;
}

/** Response headers that describe the upstream's bytes, not the ones the caller gets. */
const BODY_HEADERS = ['content-length', 'content-encoding', 'transfer-encoding'];

function answerHeaders(upstream: AnswerHeaders): Headers {
  const h = new Headers();
  upstream.forEach((value, name) => {
    if (!BODY_HEADERS.includes(name)) h.append(name, value);
  });
  return h;
}

/** The hold's tokens, from the request alone (docs/models.md, "The hold"). */
async function holdOf(
  request: ModelRequest,
  deps: Pick<MeterDeps, 'counter' | 'attachmentTokens'>,
): Promise<ModelCallHold & { heldOutput: number }> {
  const counted = await deps.counter.count(request.texts, countingFor(request.model));
  const inputTokens = heldInputTokens(request, counted, deps.attachmentTokens);
  const outputTokens =
    request.maxOutputTokens === undefined ? undefined : request.maxOutputTokens * request.choices;
  return {
    model: request.model,
    inputTokens,
    outputTokens,
    choices: request.choices,
    cacheWrite: request.cacheWrite,
    heldOutput: outputTokens ?? 0,
  };
}

/** A request Tollgate cannot meter, or an error in what the caller sent: a 4xx in the provider's shape. */
function requestError(api: ModelApi, e: unknown): Response | undefined {
  if (!isTollgateError(e)) return undefined;
  const status = STATUS_OF[e.code];
  if (status >= 500) return undefined;
  const type = status === 401 ? 'authentication_error' : 'invalid_request_error';
  return errorResponse(api, status, type, e.message, { code: e.code, details: e.details });
}

/** One metered call, answered as a Response (the SDKs' fetch). */
export async function meterCall(
  api: ModelApi,
  call: OutgoingCall,
  deps: MeterDeps,
): Promise<Response> {
  const answer = await meterAnswer(api, call, deps);
  if (!('metered' in answer)) return answer;
  const { status, statusText, headers, body } = answer;
  let response: Response | undefined;
  try {
    response = new Response(body, { status, statusText, headers: answerHeaders(headers) });
  } finally {
    // Delivered even when the Response cannot be made: the call is settled all the same.
    await answer.deliver?.(() => {});
  }
  return response;
}

/**
 * One metered call: Tollgate's refusal as a Response, the upstream's error
 * answer as it came, else the upstream's answer metered.
 */
export async function meterAnswer<A extends UpstreamAnswer>(
  api: ModelApi,
  call: OutgoingCall,
  deps: MeterDeps<A>,
): Promise<Response | A | MeteredAnswer> {
  let json: unknown;
  try {
    json = JSON.parse(call.body);
  } catch {
    return errorResponse(api, 400, 'invalid_request_error', 'the request body is not JSON');
  }
  let request: ModelRequest;
  let hold: Awaited<ReturnType<typeof holdOf>>;
  let reservationId: string;
  let heldUsage: Usage;
  try {
    request = parseModelRequest(api, json);
    hold = await holdOf(request, deps);
    const d = await deps.gate.authorize(hold);
    if (!d.allowed) return denialResponse(api, d);
    reservationId = d.reservation_id;
    const input = d.held_tokens?.input ?? hold.inputTokens;
    heldUsage = {
      inputTokens: input,
      outputTokens: d.held_tokens?.output ?? hold.heldOutput,
      cacheReadTokens: 0,
      cacheWriteTokens: request.cacheWrite === 'none' ? 0 : input,
      ...(request.cacheWrite === '1h' ? { cacheWrite1hTokens: input } : {}),
    };
  } catch (e) {
    const refused = requestError(api, e);
    if (refused !== undefined) return refused;
    throw e;
  }

  const model = request.model;
  const onError = deps.onError ?? ((e: unknown) => console.error('tollgate: settle failed', e));
  const settle = (usage: Usage | undefined, onSending?: () => void): Promise<void> =>
    deps.gate
      .settle(reservationId, {
        model,
        usage: usage ?? heldUsage,
        estimated: usage === undefined,
        result: 'success',
        onSending,
      })
      .then(() => undefined, onError);

  let upstream: A;
  try {
    upstream = await deps.fetch(call.url, {
      method: call.method,
      headers: call.headers,
      body: request.upstreamBody === undefined ? call.body : JSON.stringify(request.upstreamBody),
      signal: call.signal ?? undefined,
    });
  } catch (e) {
    await deps.gate.release(reservationId);
    throw e;
  }
  // An error, or no body (a fetch Response's body is null): nothing to meter.
  if (!upstream.ok || NULL_BODY_STATUSES.has(upstream.status)) {
    await deps.gate.release(reservationId);
    return upstream;
  }
  const answer = (body: MeteredAnswer['body']): MeteredAnswer => ({
    metered: true,
    status: upstream.status,
    statusText: upstream.statusText,
    headers: upstream.headers,
    body,
  });

  if (!(upstream.headers.get('content-type') ?? '').includes('text/event-stream')) {
    let text: string;
    try {
      text = await upstream.text();
    } catch (e) {
      await settle(undefined);
      throw e;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const usage = usageFromBody(api, body);
    let delivered: Promise<void> | undefined;
    const deliver = (give: () => void): Promise<void> => {
      delivered ??= new Promise<void>((resolve, reject) => {
        let given = false;
        const once = (): void => {
          if (given) return;
          given = true;
          try {
            give();
            resolve();
          } catch (e) {
            reject(e);
          }
        };
        // The caller's next request, through this Tollgate, goes out after the settle.
        void settle(usage, once).then(once);
      });
      return delivered;
    };
    return { ...answer(text), deliver };
  }

  const meter = createStreamMeter(api, {
    hideUsage: api === 'chat' && !request.usageRequested,
  });
  const settled = meter.usage.then(settle);
  // A caller that aborts need not read again: the meter ends now (an estimate unless the usage was seen).
  call.signal?.addEventListener('abort', () => meter.end(), { once: true });
  // Not null: the status has a body.
  const body = upstream.body as ReadableStream<Uint8Array>;
  // The body ends for the caller once `settled` has resolved (it never rejects: a failed settle went to onError).
  return answer(meteredBody(body, meter, settled));
}
