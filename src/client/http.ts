import { TollgateApiError } from './errors.js';

export interface HttpOptions {
  baseUrl: string;
  token: string;
  /** Attempts for requests that are safe to repeat (default 3). */
  retries?: number;
  /** First backoff in ms, doubled per attempt (default 100). */
  backoffMs?: number;
  /** Per-attempt timeout in ms (default 10,000). */
  timeoutMs?: number;
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * JSON over fetch (Node's fetch keeps connections alive). Retries with
 * exponential backoff only when the caller says the request is safe to repeat
 * and the failure is the network's or the store's (502/503/504).
 */
export class Http {
  private readonly base: string;

  constructor(private readonly opts: HttpOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
  }

  async request<T>(method: string, path: string, body: unknown, safeToRetry: boolean): Promise<T> {
    const attempts = safeToRetry ? (this.opts.retries ?? 3) : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep((this.opts.backoffMs ?? 100) * 2 ** (attempt - 1));
      let res: Response;
      try {
        res = await fetch(`${this.base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.opts.token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        });
      } catch (e) {
        lastError = new TollgateApiError(0, 'NETWORK_ERROR', (e as Error).message);
        continue;
      }
      const text = await res.text();
      const json: unknown = text ? JSON.parse(text) : undefined;
      if (res.ok) return json as T;
      const err = (json as { error?: { code?: string; message?: string; details?: unknown } })
        ?.error;
      lastError = new TollgateApiError(
        res.status,
        err?.code ?? 'HTTP_ERROR',
        err?.message ?? `HTTP ${res.status}`,
        err?.details,
      );
      if (!RETRYABLE_STATUS.has(res.status)) break;
    }
    throw lastError;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
