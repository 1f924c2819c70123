/**
 * A `fetch` for `new OpenAI({ fetch })` and `new Anthropic({ fetch })`
 * (docs/models.md, "The fetch and the gateway"): model calls (`/chat/completions`,
 * `/responses`, `/messages`) are metered through the gate, every other call
 * passes through untouched. Each call the SDK makes — each retry attempt too —
 * is held and settled on its own.
 */
import { type MeterDeps, meterCall } from './call.js';
import { meteredApi } from './endpoint.js';

export interface MeteredFetchOptions extends Omit<MeterDeps, 'fetch'> {
  /** The fetch that reaches the provider (default: the global fetch). */
  fetch?: typeof globalThis.fetch;
}

export function createMeteredFetch(options: MeteredFetchOptions): typeof globalThis.fetch {
  const base = options.fetch ?? globalThis.fetch;
  const deps: MeterDeps = { ...options, fetch: base };
  return async (input, init) => {
    const url = input instanceof Request ? input.url : input instanceof URL ? input.href : input;
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const api = meteredApi(method, new URL(url).pathname);
    if (api === undefined) return base(input, init);
    if (!(input instanceof Request) && typeof init?.body === 'string') {
      // The SDKs' call: a URL and a JSON text. Read as it is (a Request would copy it into a stream).
      const headers = new Headers(init.headers);
      headers.delete('content-length');
      return meterCall(api, { url, method, headers, body: init.body, signal: init.signal }, deps);
    }
    const request = new Request(input, init);
    const headers = new Headers(request.headers);
    headers.delete('content-length');
    return meterCall(
      api,
      { url, method, headers, body: await request.text(), signal: request.signal },
      deps,
    );
  };
}
