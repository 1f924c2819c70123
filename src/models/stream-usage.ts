/**
 * The terminal usage of each API's event stream (docs/models.md, "Streams"),
 * read block by block. Only the blocks that can carry it are parsed as JSON.
 */
import { field, isObject } from './json.js';
import type { SseBlock } from './sse.js';
import type { ModelApi, Usage } from './types.js';
import { anthropicUsage, chatUsage, mergeAnthropicUsage, responsesUsage } from './usage.js';

export interface FoundUsage {
  usage: Usage;
  /** True when the block carries nothing but the usage (chat's extra chunk, which a caller that did not ask for it must not see). */
  usageOnly: boolean;
}

/** Reads one block; returns the usage at the stream's first terminal usage event. */
export type UsageExtractor = (block: SseBlock) => FoundUsage | undefined;

const USAGE_OBJECT = /"usage"\s*:\s*\{/;
const FIRST_TYPE = /"type"\s*:\s*"([^"\\]*)"/;

function parse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** The block's event name, else the `type` its data names (both APIs send both). */
function eventType(block: SseBlock): string | undefined {
  if (block.event !== '') return block.event;
  return block.data === undefined ? undefined : FIRST_TYPE.exec(block.data)?.[1];
}

/**
 * Chat Completions: the chunk with `usage` and no choices (sent last when
 * `stream_options.include_usage` is set). A provider that puts usage on chunks
 * with choices instead: the last such usage, at `[DONE]`.
 */
function chatExtractor(): UsageExtractor {
  let last: Usage | undefined;
  return (block) => {
    const data = block.data;
    if (data === undefined) return undefined;
    if (data.trim() === '[DONE]') return last && { usage: last, usageOnly: false };
    if (!USAGE_OBJECT.test(data)) return undefined;
    const chunk = parse(data);
    const usage = isObject(chunk) ? chatUsage(chunk.usage) : undefined;
    if (usage === undefined || !isObject(chunk)) return undefined;
    const choices = chunk.choices;
    if (choices === undefined || (Array.isArray(choices) && choices.length === 0)) {
      return { usage, usageOnly: true };
    }
    last = usage;
    return undefined;
  };
}

const RESPONSE_TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/** Responses API: `response.completed` (or `.incomplete`, `.failed`) carries `response.usage`. */
function responsesExtractor(): UsageExtractor {
  return (block) => {
    const type = eventType(block);
    if (type === undefined || !RESPONSE_TERMINAL.has(type) || block.data === undefined) {
      return undefined;
    }
    const usage = responsesUsage(field(field(parse(block.data), 'response'), 'usage'));
    return usage && { usage, usageOnly: false };
  };
}

/** Anthropic Messages: `message_start`'s usage, completed by `message_delta`'s (cumulative counts). */
function messagesExtractor(): UsageExtractor {
  let start: unknown;
  return (block) => {
    const type = eventType(block);
    if ((type !== 'message_start' && type !== 'message_delta') || block.data === undefined) {
      return undefined;
    }
    const event = parse(block.data);
    if (type === 'message_start') {
      start = field(field(event, 'message'), 'usage');
      return undefined;
    }
    const delta = field(event, 'usage');
    if (delta === undefined) return undefined;
    const usage = anthropicUsage(mergeAnthropicUsage(start, delta));
    return usage && { usage, usageOnly: false };
  };
}

export function createUsageExtractor(api: ModelApi): UsageExtractor {
  switch (api) {
    case 'chat':
      return chatExtractor();
    case 'responses':
      return responsesExtractor();
    case 'messages':
      return messagesExtractor();
  }
}
