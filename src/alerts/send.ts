import { EVENT_ID_HEADER, SIGNATURE_HEADER, signatureHeader } from './sign.js';

/**
 * One attempt of a delivery over HTTP: POST the body, signed, with a time
 * limit for the whole attempt. A 2xx is delivered; anything else (another
 * status, no answer, the time limit) is a failed attempt with its reason.
 * Redirects: a 307 or 308 to the same origin (scheme, host and port) is
 * followed (at most 3, the same POST and body: those codes keep the method);
 * any other is a failure, so a delivery never goes to another host.
 */

export interface SendResult {
  ok: boolean;
  /** The receiver's HTTP status; null when it did not answer. */
  status: number | null;
  /** Why it failed; null when delivered. */
  error: string | null;
}

export interface SendOptions {
  secret: string;
  eventId: string;
  timeoutMs: number;
  /** Unix seconds for the signature. Default: now. */
  nowS?: number;
}

export const MAX_REDIRECTS = 3;

/** http and https only (the API checks it when the webhook is made; checked again here). */
export function isWebhookUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** A failed fetch's reason: the network error's own words (ECONNREFUSED, …), or the time limit. */
function reason(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = err?.cause;
  if (cause?.message) return cause.message;
  if (cause?.code) return cause.code;
  return err?.message ?? String(e);
}

export async function postSigned(
  url: string,
  body: string,
  opts: SendOptions,
): Promise<SendResult> {
  if (!isWebhookUrl(url)) return { ok: false, status: null, error: `not an http(s) URL: ${url}` };
  const t = opts.nowS ?? Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'tollgate-webhooks',
    [SIGNATURE_HEADER]: signatureHeader(opts.secret, body, t),
    [EVENT_ID_HEADER]: opts.eventId,
  };
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await fetch(target, { method: 'POST', headers, body, redirect: 'manual', signal });
    } catch (e) {
      return { ok: false, status: null, error: reason(e, opts.timeoutMs) };
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, error: null };
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      let next: URL | undefined;
      try {
        next = new URL(location, target);
      } catch {
        next = undefined;
      }
      const same = next !== undefined && next.origin === target.origin;
      if ((res.status === 307 || res.status === 308) && same && hop < MAX_REDIRECTS && next) {
        target = next;
        continue;
      }
      const why = !same
        ? 'a redirect to another origin, not followed'
        : hop >= MAX_REDIRECTS
          ? `more than ${MAX_REDIRECTS} redirects`
          : 'a redirect not followed (only 307 and 308 are)';
      return {
        ok: false,
        status: res.status,
        error: `HTTP ${res.status}: ${why} (${location.slice(0, 200)})`,
      };
    }
    const text = res.statusText ? ` ${res.statusText}` : '';
    return { ok: false, status: res.status, error: `HTTP ${res.status}${text}` };
  }
}
