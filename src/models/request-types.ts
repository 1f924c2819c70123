/**
 * What the metering core reads from a model request (docs/models.md, "The
 * hold"), and the collector the three parsers share.
 */
import type { JsonObject } from './json.js';
import type { ModelApi } from './types.js';

/** Tokens a provider adds around each message (role and separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Tokens that prime the reply. */
export const REPLY_OVERHEAD_TOKENS = 3;
/** Anthropic's tool-use system prompt, added when a request has tools: above every figure the provider publishes. */
export const TOOL_PROMPT_TOKENS = 600;

export type CacheWrite = 'none' | '5m' | '1h';

export interface ModelRequest {
  api: ModelApi;
  model: string;
  stream: boolean;
  /** The request's own output limit (`max_completion_tokens`, `max_tokens`, `max_output_tokens`), per choice; undefined when it gives none. */
  maxOutputTokens: number | undefined;
  /** How many choices the output limit applies to (chat's `n`; else 1). */
  choices: number;
  /** The texts to count: one per message or input item, one each for the system prompt, the tools and the output schema. */
  texts: string[];
  /** Tokens added around the texts: per message, the reply's priming, Anthropic's tool-use prompt. */
  overheadTokens: number;
  /** Image, file and audio parts, held at a fixed count each. */
  attachments: number;
  /** The longest prompt-cache lifetime the request writes (Anthropic `cache_control`), else 'none'. */
  cacheWrite: CacheWrite;
  /** True when the input continues context kept by the provider (`previous_response_id`, `conversation`, a stored prompt, an item reference): those tokens are not in the request. */
  serverContext: boolean;
  /** Whether the caller asked for usage in its stream (chat's `stream_options.include_usage`); true when the API always sends it. */
  usageRequested: boolean;
  /** The body to send upstream instead of the caller's (a chat stream, with `include_usage` added); undefined: the caller's bytes as they are. */
  upstreamBody: JsonObject | undefined;
}

/** A positive safe integer, else undefined. */
export function positive(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The texts, attachments and items of a request, gathered by its API's parser. */
export class RequestTexts {
  readonly texts: string[] = [];
  attachments = 0;
  items = 0;
  cacheWrite: CacheWrite = 'none';

  /** One message or input item, its texts joined. */
  item(parts: readonly string[]): void {
    this.items++;
    const text = parts.join('\n');
    if (text.length > 0) this.texts.push(text);
  }

  /** A structured value counted as its JSON text (tool definitions, schemas, unknown parts). */
  json(v: unknown): void {
    if (v !== undefined && v !== null) this.texts.push(JSON.stringify(v));
  }

  /** Notes an Anthropic `cache_control` ({ type: 'ephemeral', ttl?: '5m' | '1h' }). */
  cacheControl(v: unknown): void {
    if (typeof v !== 'object' || v === null) return;
    const ttl = (v as JsonObject).ttl;
    if (ttl === '1h') this.cacheWrite = '1h';
    else if (this.cacheWrite === 'none') this.cacheWrite = '5m';
  }

  overhead(extra = 0): number {
    return this.items * MESSAGE_OVERHEAD_TOKENS + REPLY_OVERHEAD_TOKENS + extra;
  }
}
