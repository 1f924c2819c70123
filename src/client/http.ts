import { TollgateApiError } from './errors.js';

export interface HttpOptions {
  baseUrl: string;
  /**
   * The admin token or an agent's key, sent as `Authorization: Bearer …`.
   * Empty: no header (the open routes: health, readiness, the OpenAPI document).
   */
  token: string;
  /** Attempts for requests that are safe to repeat (default 3). */
  retries?: number;
  /** First backoff in ms, doubled per attempt (default 100). */
  backoffMs?: number;
  /** Per-attempt timeout in ms (default 10,000). */
  timeoutMs?: number;
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/** Why fetch failed, in words that name the cause (`fetch failed` alone does not). */
function networkCause(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = err.cause;
  // undici refuses the Fetch standard's blocked ports (1, 22, 25, 6000, …) before connecting.
  if (cause?.message === 'bad port')
    return 'fetch refuses this port (a "bad port" in the Fetch standard)';
  if (cause?.message) {
    return cause.code && !cause.message.includes(cause.code)
      ? `${cause.code}: ${cause.message}`
      : cause.message;
  }
  return err.message ?? String(e);
}

/** The first characters of a body that is not what was expected, on one line. */
function excerpt(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 80)}…` : one;
}

/**
 * JSON over fetch (Node's fetch keeps connections alive). Retries with
 * exponential backoff only when the caller says the request is safe to repeat
 * and the failure is the network's or the store's (502/503/504). Every error
 * is a TollgateApiError that names the method and the URL.
 */
export class Http {
  private readonly base: string;

  constructor(private readonly opts: HttpOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
  }

  /** A JSON request; the answer parsed. */
  async request<T>(method: string, path: string, body: unknown, safeToRetry: boolean): Promise<T> {
    const { res, text, url } = await this.send(method, path, body, safeToRetry, 'json');
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new TollgateApiError(
        res.status,
        'HTTP_ERROR',
        `${method} ${url} answered HTTP ${res.status} with a body that is not JSON: ${excerpt(text)}`,
        undefined,
        { method, url },
      );
    }
  }

  /** A request whose answer is text (GET /metrics). */
  async text(path: string): Promise<string> {
    return (await this.send('GET', path, undefined, true, 'text')).text;
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
    safeToRetry: boolean,
    accept: 'json' | 'text',
  ): Promise<{ res: Response; text: string; url: string }> {
    const url = `${this.base}${path}`;
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const attempts = safeToRetry ? (this.opts.retries ?? 3) : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep((this.opts.backoffMs ?? 100) * 2 ** (attempt - 1));
      let res: Response;
      let text: string;
      try {
        res = await fetch(url, {
          method,
          headers: {
            accept: accept === 'json' ? 'application/json' : 'text/plain',
            ...(this.opts.token === '' ? {} : { authorization: `Bearer ${this.opts.token}` }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        text = await res.text();
      } catch (e) {
        lastError = new TollgateApiError(
          0,
          'NETWORK_ERROR',
          `cannot reach ${url} (${method}): ${networkCause(e, timeoutMs)}`,
          undefined,
          { method, url },
        );
        continue;
      }
      if (res.ok) return { res, text, url };
      lastError = errorOf(res.status, text, method, url);
      if (!RETRYABLE_STATUS.has(res.status)) break;
    }
    throw lastError;
  }
}

/** An error answer: the API's envelope, or whatever else answered (a proxy's page). */
function errorOf(status: number, text: string, method: string, url: string): TollgateApiError {
  let err: { code?: unknown; message?: unknown; details?: unknown } | undefined;
  try {
    err = (JSON.parse(text) as { error?: typeof err })?.error;
  } catch {
    err = undefined;
  }
  if (typeof err?.code === 'string') {
    return new TollgateApiError(
      status,
      err.code,
      typeof err.message === 'string' ? err.message : `HTTP ${status}`,
      err.details,
      { method, url },
    );
  }
  return new TollgateApiError(
    status,
    'HTTP_ERROR',
    `${method} ${url} answered HTTP ${status}${text.trim() ? `: ${excerpt(text)}` : ''}`,
    undefined,
    { method, url },
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
