/**
 * How the gateway reaches a provider (docs/gateway.md): the upstream's URL for
 * a path under the gateway's prefix, and the headers it forwards — the
 * caller's, without its credentials and hop-by-hop headers, with the
 * deployment's provider key in their place. An agent never sees the key.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayUpstreams } from '../../config/gateway.js';

export type Provider = keyof GatewayUpstreams;

/** Request headers never forwarded: credentials, hop-by-hop, and what fetch sets itself. */
const DROPPED = new Set([
  'authorization',
  'x-api-key',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'content-length',
  'accept-encoding',
  'cookie',
  'x-tollgate-agent-id',
]);

/** Response headers not passed back: hop-by-hop, and those that describe the upstream's bytes. */
export const RESPONSE_DROPPED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'set-cookie',
]);

/** The Anthropic API version sent when the caller names none. */
export const ANTHROPIC_VERSION = '2023-06-01';

export function upstreamUrl(baseUrl: string, rest: string, search: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${rest.replace(/^\/+/, '')}${search}`;
}

export function upstreamHeaders(
  provider: Provider,
  incoming: IncomingHttpHeaders,
  apiKey: string,
): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || DROPPED.has(name)) continue;
    h.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  if (provider === 'openai') {
    h.set('authorization', `Bearer ${apiKey}`);
  } else {
    h.set('x-api-key', apiKey);
    if (!h.has('anthropic-version')) h.set('anthropic-version', ANTHROPIC_VERSION);
  }
  return h;
}
