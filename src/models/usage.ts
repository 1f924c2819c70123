/**
 * Each provider's `usage` in the one shape of types.ts (docs/models.md, "Usage"):
 * OpenAI counts cached tokens inside `prompt_tokens` / `input_tokens` and
 * reasoning inside the output; Anthropic's `input_tokens`, cache reads and cache
 * writes are separate and add up. Undefined when the object carries no count.
 */
import { count, field, isObject, type JsonObject } from './json.js';
import type { ModelApi, Usage } from './types.js';

function shape(
  input: number | undefined,
  output: number | undefined,
  cacheRead: number,
  cacheWrite: number,
  cacheWrite1h: number | undefined,
  reasoning: number | undefined,
): Usage | undefined {
  if (input === undefined && output === undefined) return undefined;
  const inputTokens = input ?? 0;
  const outputTokens = output ?? 0;
  const cacheReadTokens = Math.min(cacheRead, inputTokens);
  const cacheWriteTokens = Math.min(cacheWrite, inputTokens - cacheReadTokens);
  const u: Usage = { inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens };
  if (cacheWrite1h !== undefined) u.cacheWrite1hTokens = Math.min(cacheWrite1h, cacheWriteTokens);
  if (reasoning !== undefined) u.reasoningTokens = Math.min(reasoning, outputTokens);
  return u;
}

/** Chat Completions: `prompt_tokens` (cached inside), `completion_tokens` (reasoning inside). */
export function chatUsage(u: unknown): Usage | undefined {
  if (!isObject(u)) return undefined;
  return shape(
    count(u.prompt_tokens),
    count(u.completion_tokens),
    count(field(u, 'prompt_tokens_details')?.cached_tokens) ?? 0,
    0,
    undefined,
    count(field(u, 'completion_tokens_details')?.reasoning_tokens),
  );
}

/** Responses API: `input_tokens` (cached inside), `output_tokens` (reasoning inside). */
export function responsesUsage(u: unknown): Usage | undefined {
  if (!isObject(u)) return undefined;
  return shape(
    count(u.input_tokens),
    count(u.output_tokens),
    count(field(u, 'input_tokens_details')?.cached_tokens) ?? 0,
    0,
    undefined,
    count(field(u, 'output_tokens_details')?.reasoning_tokens),
  );
}

/** Anthropic Messages: `input_tokens` (uncached) + `cache_read_input_tokens` + `cache_creation_input_tokens`. */
export function anthropicUsage(u: unknown): Usage | undefined {
  if (!isObject(u)) return undefined;
  const uncached = count(u.input_tokens);
  const read = count(u.cache_read_input_tokens) ?? 0;
  const write = count(u.cache_creation_input_tokens) ?? 0;
  return shape(
    uncached === undefined && read + write === 0 ? undefined : (uncached ?? 0) + read + write,
    count(u.output_tokens),
    read,
    write,
    count(field(u, 'cache_creation')?.ephemeral_1h_input_tokens),
    undefined,
  );
}

/**
 * An Anthropic stream's final usage: `message_start`'s, with every count that
 * `message_delta` carries (cumulative) in its place.
 */
export function mergeAnthropicUsage(start: unknown, delta: unknown): JsonObject {
  const merged: JsonObject = isObject(start) ? { ...start } : {};
  if (isObject(delta)) {
    for (const [k, v] of Object.entries(delta)) if (v !== null && v !== undefined) merged[k] = v;
  }
  return merged;
}

/** The usage of a non-streamed response body (parsed JSON) of the API. */
export function usageFromBody(api: ModelApi, body: unknown): Usage | undefined {
  const u = isObject(body) ? body.usage : undefined;
  switch (api) {
    case 'chat':
      return chatUsage(u);
    case 'responses':
      return responsesUsage(u);
    case 'messages':
      return anthropicUsage(u);
  }
}
