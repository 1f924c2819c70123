/**
 * The real `openai` and `@anthropic-ai/sdk` clients, pointed at a base URL
 * (the stand-in upstream, test/support/model-upstream.ts, or Tollgate) with a
 * given `fetch` and key, and nothing read from the environment:
 *
 *   const openai = openaiClient(upstream.openaiBaseURL, { fetch: tollgateFetch });
 *   const anthropic = anthropicClient(upstream.anthropicBaseURL, { apiKey: 'sk-ant-x' });
 *
 * OpenAI's base URL ends with `/v1`; Anthropic's does not (the SDK adds
 * `/v1/messages`).
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

/** What both SDKs call as `fetch`: `(url: string, init)`, `init.headers` a `Headers`. */
export type SdkFetch = (url: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ModelClientOptions {
  fetch?: SdkFetch;
  /** Default 'sk-test-openai' / 'sk-ant-test'. */
  apiKey?: string;
  /** The SDKs' default is 2. */
  maxRetries?: number;
  /** Milliseconds; the SDKs' default is 10 minutes. */
  timeout?: number;
  defaultHeaders?: Record<string, string>;
}

export function openaiClient(baseURL: string, opts: ModelClientOptions = {}): OpenAI {
  return new OpenAI({
    baseURL,
    apiKey: opts.apiKey ?? 'sk-test-openai',
    organization: null,
    project: null,
    webhookSecret: null,
    ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
    ...(opts.maxRetries === undefined ? {} : { maxRetries: opts.maxRetries }),
    ...(opts.timeout === undefined ? {} : { timeout: opts.timeout }),
    ...(opts.defaultHeaders === undefined ? {} : { defaultHeaders: opts.defaultHeaders }),
  });
}

export function anthropicClient(baseURL: string, opts: ModelClientOptions = {}): Anthropic {
  return new Anthropic({
    baseURL,
    apiKey: opts.apiKey ?? 'sk-ant-test',
    webhookKey: null,
    ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
    ...(opts.maxRetries === undefined ? {} : { maxRetries: opts.maxRetries }),
    ...(opts.timeout === undefined ? {} : { timeout: opts.timeout }),
    ...(opts.defaultHeaders === undefined ? {} : { defaultHeaders: opts.defaultHeaders }),
  });
}

/** One call an SDK made to its `fetch`. */
export interface FetchCall {
  /** What the first argument was. */
  inputKind: 'string' | 'URL' | 'Request';
  url: string;
  method: string | undefined;
  /** `init.headers` as the SDK gave it (a `Headers`, in both SDKs). */
  headers: RequestInit['headers'];
  body: RequestInit['body'];
  signal: AbortSignal | null | undefined;
}

/**
 * A `fetch` that records how the SDK called it, then calls `next` (default
 * the global fetch) with the same arguments.
 */
export function recordingFetch(next: SdkFetch = globalThis.fetch): {
  fetch: SdkFetch;
  calls: FetchCall[];
} {
  const calls: FetchCall[] = [];
  const fetch: SdkFetch = (input, init) => {
    calls.push({
      inputKind: typeof input === 'string' ? 'string' : input instanceof URL ? 'URL' : 'Request',
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      method: init?.method,
      headers: init?.headers,
      body: init?.body,
      signal: init?.signal,
    });
    return next(input, init);
  };
  return { fetch, calls };
}
