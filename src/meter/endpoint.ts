/**
 * Which calls are metered: a POST whose path ends in `/chat/completions`,
 * `/responses` or `/messages` (docs/models.md). Every other call (models,
 * files, `/messages/count_tokens`, a GET of a stored response) passes through.
 */
import type { ModelApi } from '../models/types.js';

const ENDINGS: readonly (readonly [string, ModelApi])[] = [
  ['/chat/completions', 'chat'],
  ['/responses', 'responses'],
  ['/messages', 'messages'],
];

/** The API a request meters, or undefined to pass it through. */
export function meteredApi(method: string, pathname: string): ModelApi | undefined {
  if (method.toUpperCase() !== 'POST') return undefined;
  const path = pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
  for (const [ending, api] of ENDINGS) if (path.endsWith(ending)) return api;
  return undefined;
}

/** Anthropic's error shape for `/messages`, OpenAI's for the rest. */
export function providerOf(api: ModelApi): 'openai' | 'anthropic' {
  return api === 'messages' ? 'anthropic' : 'openai';
}
