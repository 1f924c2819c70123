/**
 * The model gateway's upstreams (docs/gateway.md), from the configuration:
 * a provider is served when its API key is set, at its base URL (default the
 * provider's own). The keys are never shown.
 */

/** Where the gateway forwards model calls, with the deployment's provider keys. */
export interface GatewayUpstreams {
  openai?: { baseUrl: string; apiKey: string };
  anthropic?: { baseUrl: string; apiKey: string };
}

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';
export const DEFAULT_ANTHROPIC_BASE_URL = 'https://api.anthropic.com/v1';

/** The parsed variables the upstreams come from. */
export interface UpstreamVariables {
  openaiBaseUrl?: string;
  openaiApiKey?: string;
  anthropicBaseUrl?: string;
  anthropicApiKey?: string;
}

export function gatewayUpstreams(v: UpstreamVariables): GatewayUpstreams {
  const u: GatewayUpstreams = {};
  if (v.openaiApiKey !== undefined) {
    u.openai = { baseUrl: v.openaiBaseUrl ?? DEFAULT_OPENAI_BASE_URL, apiKey: v.openaiApiKey };
  }
  if (v.anthropicApiKey !== undefined) {
    u.anthropic = {
      baseUrl: v.anthropicBaseUrl ?? DEFAULT_ANTHROPIC_BASE_URL,
      apiKey: v.anthropicApiKey,
    };
  }
  return u;
}

/** The upstreams as the startup line shows them: base URLs, keys masked. */
export function describeUpstreams(u: GatewayUpstreams): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [provider, up] of Object.entries(u)) {
    if (up !== undefined) shown[provider] = { baseUrl: up.baseUrl, apiKey: '***' };
  }
  return shown;
}
