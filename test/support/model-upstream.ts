/**
 * A stand-in for OpenAI and Anthropic on loopback, for the tests that drive
 * the real `openai` and `@anthropic-ai/sdk` clients (test/models-wire).
 *
 *   const upstream = await startModelUpstream({ usage: { inputTokens: 100, outputTokens: 7 } });
 *   const openai = new OpenAI({ baseURL: upstream.openaiBaseURL, apiKey: 'sk-test' });
 *   const anthropic = new Anthropic({ baseURL: upstream.anthropicBaseURL, apiKey: 'sk-ant-test' });
 *   ...
 *   upstream.requests;   // what it was asked, in order
 *   await upstream.close();
 *
 * It answers `POST /v1/chat/completions`, `/v1/responses`, `/v1/messages`
 * (JSON, or an event stream when the body says `stream: true`) and `GET
 * /v1/models` (Anthropic's list when the request has `anthropic-version`),
 * also under `<prefix>`, in the providers' shapes (model-upstream-wire.ts).
 * Text, usage, chunks and delay are settings; faults and holds are armed.
 */
import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ANSWERS,
  type AnswerInput,
  errorBody,
  type ModelApi,
  modelsList,
  type Provider,
  ROUTES,
  splitText,
  type UsageFigures,
} from './model-upstream-wire.js';

export {
  expectedUsage,
  type ModelApi,
  type Provider,
  type UsageFigures,
  wireUsage,
} from './model-upstream-wire.js';

/** What the stand-in answers with; `set` changes it, `reset` goes back to the start's. */
export interface UpstreamSettings {
  /** The text of every answer. Default 'Hello from the stand-in upstream.' */
  text: string;
  /** How many pieces a streamed text comes in (one event each). Default 4. */
  chunks: number;
  /** Wait between two events of a stream. Default 0. */
  chunkDelayMs: number;
  usage: UsageFigures;
  /** When set, a request without this key (Bearer or `x-api-key`) gets the provider's 401. */
  apiKey: string | undefined;
  /** What `GET /v1/models` lists. */
  models: string[];
}

export interface ModelUpstreamOptions extends Partial<UpstreamSettings> {
  /** A path prefix also served (`/gw` serves `/gw/v1/chat/completions` as well as `/v1/…`). */
  prefix?: string;
}

export type Ending = 'complete' | 'cut' | 'client-closed';

/** One request the stand-in got. */
export interface UpstreamRequest {
  method: string;
  /** The path as received, without the query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; the text when it is not JSON; undefined when empty. */
  body: unknown;
  /** `models` for the list; undefined for a path the stand-in does not serve. */
  api: ModelApi | 'models' | undefined;
  provider: Provider;
  stream: boolean;
  /** The status answered. */
  status: number;
  /** Events written (streams). */
  chunksSent: number;
  /** Settles when the exchange is over, with how it ended. */
  ended: Promise<Ending>;
  /** Set once `ended` settles. */
  ending?: Ending;
}

/**
 * A held answer (`hold()`): `reached` when the stand-in has stopped;
 * `release()` lets it go on; `cut()` destroys its socket there instead (a cut
 * at a point the client has read up to: `cutAfterChunks` cuts at once, and
 * fetch drops the events a client had received but not yet read).
 */
export interface Held {
  reached: Promise<UpstreamRequest>;
  release(): void;
  cut(): void;
}

export interface ModelUpstream {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Base URL for `new OpenAI({ baseURL })`: the URL, the prefix and `/v1`. */
  readonly openaiBaseURL: string;
  /** Base URL for `new Anthropic({ baseURL })`: the URL and the prefix (the SDK adds `/v1/…`). */
  readonly anthropicBaseURL: string;
  /** Every request received, in order. */
  readonly requests: UpstreamRequest[];
  /** The requests of one API (or all the model calls: chat, responses and messages). */
  calls(api?: ModelApi | 'models'): UpstreamRequest[];
  set(settings: Partial<UpstreamSettings>): void;
  /**
   * The next `n` requests get `status` and the provider's error body (default
   * 500). `headers` are added (`retry-after`, `x-should-retry`, …).
   */
  failNext(
    n: number,
    status?: number,
    opts?: { headers?: Record<string, string>; message?: string },
  ): void;
  /**
   * The next model call's socket is destroyed after `k` events (a stream), or
   * after the headers and half the body (a JSON answer).
   */
  cutAfterChunks(k: number): void;
  /**
   * The next model call stops after `afterChunks` events (a stream, headers
   * sent) or before answering (JSON) until `release()`.
   */
  hold(afterChunks?: number): Held;
  /** Back to the start's settings; no faults armed, no requests recorded, held answers released. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULTS: UpstreamSettings = {
  text: 'Hello from the stand-in upstream.',
  chunks: 4,
  chunkDelayMs: 0,
  usage: {
    inputTokens: 1234,
    outputTokens: 56,
    cacheReadTokens: 200,
    cacheWriteTokens: 100,
    reasoningTokens: 16,
  },
  apiKey: undefined,
  models: ['gpt-4o', 'claude-sonnet-4-5'],
};

interface Failure {
  remaining: number;
  status: number;
  headers: Record<string, string>;
  message: string | undefined;
}
interface Hold {
  after: number;
  reached: (r: UpstreamRequest) => void;
  released: Promise<void>;
  release: () => void;
  cut: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startModelUpstream(
  options: ModelUpstreamOptions = {},
): Promise<ModelUpstream> {
  const { prefix: rawPrefix = '', ...given } = options;
  const prefix = rawPrefix.replace(/\/+$/, '');
  const start: UpstreamSettings = { ...DEFAULTS, ...given };
  let settings = { ...start };
  const requests: UpstreamRequest[] = [];
  let failure: Failure | undefined;
  let cut: number | undefined;
  let hold: Hold | undefined;
  const holds = new Set<Hold>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = new URL(req.url ?? '/', 'http://stand-in');
    const raw = await readBody(req);
    const body = parseBody(raw, req.headers['content-type']);
    const endpoint =
      prefix !== '' && parsed.pathname.startsWith(`${prefix}/`)
        ? parsed.pathname.slice(prefix.length)
        : parsed.pathname;
    const route = ROUTES[endpoint];
    const api = route?.api;
    const provider: Provider =
      api === 'messages' ||
      (api !== 'chat' && api !== 'responses' && req.headers['anthropic-version'])
        ? 'anthropic'
        : 'openai';
    const json = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    let settle!: (e: Ending) => void;
    const record: UpstreamRequest = {
      method: req.method ?? '',
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      headers: req.headers,
      body,
      api,
      provider,
      stream: json.stream === true,
      status: 0,
      chunksSent: 0,
      ended: new Promise<Ending>((resolve) => (settle = resolve)),
    };
    requests.push(record);
    res.on('close', () => {
      const ending: Ending = res.writableFinished ? 'complete' : (record.ending ?? 'client-closed');
      record.ending = ending;
      settle(ending);
    });

    const requestId = `req_${randomBytes(12).toString('hex')}`;
    const idHeader = provider === 'openai' ? 'x-request-id' : 'request-id';
    const sendJson = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const text = JSON.stringify(value);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        [idHeader]: requestId,
        ...headers,
      });
      return text;
    };
    const fail = (status: number, message: string, headers?: Record<string, string>): void => {
      res.end(sendJson(status, errorBody(provider, status, message, requestId), headers));
    };

    if (failure !== undefined && failure.remaining > 0) {
      const f = failure;
      if (--f.remaining === 0) failure = undefined;
      return fail(f.status, f.message ?? `stand-in failure ${f.status}`, f.headers);
    }
    if (route === undefined || api === undefined)
      return fail(404, `Unknown path ${parsed.pathname}`);
    if (req.method !== route.method) return fail(405, `${req.method} not allowed on ${endpoint}`);
    if (settings.apiKey !== undefined && keyOf(req.headers) !== settings.apiKey) {
      return fail(401, 'Incorrect API key provided.');
    }
    if (api === 'models') return void res.end(sendJson(200, modelsList(provider, settings.models)));
    if (raw.length > 0 && body === raw) return fail(400, 'The request body is not valid JSON.');

    const input: AnswerInput = {
      model: typeof json.model === 'string' ? json.model : 'gpt-4o',
      pieces: splitText(settings.text, settings.chunks),
      usage: settings.usage,
      body: json,
    };
    const myCut = cut;
    cut = undefined;
    const myHold = hold;
    hold = undefined;

    if (!record.stream) {
      const text = sendJson(200, ANSWERS[api].json(input));
      if (myHold !== undefined && !(await holdHere(myHold, record, res))) return;
      if (myCut !== undefined) {
        res.flushHeaders();
        res.write(text.slice(0, Math.floor(text.length / 2)));
        record.ending = 'cut';
        res.destroy();
        return;
      }
      return void res.end(text);
    }

    record.status = 200;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      [idHeader]: requestId,
    });
    res.flushHeaders();
    const frames = ANSWERS[api].frames(input);
    for (let i = 0; i < frames.length; i++) {
      if (myHold?.after === i && !(await holdHere(myHold, record, res))) return;
      if (i > 0 && settings.chunkDelayMs > 0) await sleep(settings.chunkDelayMs);
      if (record.ending !== undefined) return;
      if (myCut === i) {
        record.ending = 'cut';
        res.destroy();
        return;
      }
      res.write(frames[i]);
      record.chunksSent++;
    }
    if (myHold !== undefined && myHold.after >= frames.length) {
      if (!(await holdHere(myHold, record, res))) return;
    }
    res.end();
  }

  /** Waits for the release; true when the answer is to go on (not cut, client still there). */
  async function holdHere(h: Hold, record: UpstreamRequest, res: ServerResponse): Promise<boolean> {
    h.reached(record);
    await Promise.race([h.released, record.ended]);
    if (h.cut && record.ending === undefined) {
      record.ending = 'cut';
      res.destroy();
    }
    return record.ending === undefined;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`stand-in error: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    openaiBaseURL: `${url}${prefix}/v1`,
    anthropicBaseURL: `${url}${prefix}`,
    requests,
    calls: (api) =>
      requests.filter((r) =>
        api === undefined ? r.api !== undefined && r.api !== 'models' : r.api === api,
      ),
    set(changes) {
      settings = { ...settings, ...changes };
    },
    failNext(n, status = 500, opts = {}) {
      const headers = opts.headers ?? {};
      failure = n > 0 ? { remaining: n, status, headers, message: opts.message } : undefined;
    },
    cutAfterChunks(k) {
      cut = k;
    },
    hold(afterChunks = 0) {
      let reached!: (r: UpstreamRequest) => void;
      let release!: () => void;
      const reachedP = new Promise<UpstreamRequest>((resolve) => (reached = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const h: Hold = { after: afterChunks, reached, released, release, cut: false };
      hold = h;
      holds.add(h);
      const cutHere = () => {
        h.cut = true;
        release();
      };
      return { reached: reachedP, release, cut: cutHere };
    },
    reset() {
      settings = { ...start };
      failure = undefined;
      cut = undefined;
      hold = undefined;
      for (const h of holds) h.release();
      holds.clear();
      requests.length = 0;
    },
    async close() {
      for (const h of holds) h.release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** JSON when it parses; the text itself when it does not (the caller answers 400). */
function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  if (contentType !== undefined && !contentType.includes('json')) return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** The API key a request carries: `x-api-key` (Anthropic) or `Authorization: Bearer` (both). */
export function keyOf(headers: IncomingHttpHeaders): string | undefined {
  const key = headers['x-api-key'];
  if (typeof key === 'string') return key;
  const auth = headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
}
