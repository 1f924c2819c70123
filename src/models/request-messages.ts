/** Anthropic Messages requests: what to count, the output limit and the prompt-cache writes asked for. */
import { isObject, type JsonObject } from './json.js';
import {
  list,
  type ModelRequest,
  positive,
  RequestTexts,
  TOOL_PROMPT_TOKENS,
} from './request-types.js';

function blocks(v: unknown, parts: string[], c: RequestTexts): void {
  if (typeof v === 'string') {
    parts.push(v);
    return;
  }
  for (const b of list(v)) {
    if (!isObject(b)) {
      parts.push(JSON.stringify(b));
      continue;
    }
    c.cacheControl(b.cache_control);
    if (b.type === 'text' && typeof b.text === 'string') parts.push(b.text);
    else if (b.type === 'image') c.attachments++;
    else if (b.type === 'document') document(b, parts, c);
    else if (
      (b.type === 'tool_use' || b.type === 'server_tool_use') &&
      typeof b.name === 'string'
    ) {
      parts.push(`${b.name}\n${JSON.stringify(b.input ?? {})}`);
    } else if (b.type === 'tool_result') blocks(b.content, parts, c);
    else if (b.type === 'thinking' && typeof b.thinking === 'string') parts.push(b.thinking);
    else if (b.type === 'redacted_thinking' && typeof b.data === 'string') parts.push(b.data);
    else parts.push(JSON.stringify(b));
  }
}

function document(b: JsonObject, parts: string[], c: RequestTexts): void {
  for (const key of ['title', 'context'] as const) {
    const v = b[key];
    if (typeof v === 'string') parts.push(v);
  }
  const source = isObject(b.source) ? b.source : undefined;
  if (source?.type === 'text' && typeof source.data === 'string') parts.push(source.data);
  else if (source?.type === 'content') blocks(source.content, parts, c);
  else c.attachments++;
}

export function parseMessages(body: JsonObject, model: string): ModelRequest {
  const c = new RequestTexts();
  c.cacheControl(body.cache_control);
  if (body.system !== undefined && body.system !== null) {
    const parts: string[] = [];
    blocks(body.system, parts, c);
    c.item(parts);
  }
  for (const m of list(body.messages)) {
    const parts: string[] = [];
    if (isObject(m)) blocks(m.content, parts, c);
    else parts.push(JSON.stringify(m));
    c.item(parts);
  }
  const tools = list(body.tools);
  for (const t of tools) if (isObject(t)) c.cacheControl(t.cache_control);
  c.json(body.tools);
  return {
    api: 'messages',
    model,
    stream: body.stream === true,
    maxOutputTokens: positive(body.max_tokens),
    choices: 1,
    texts: c.texts,
    overheadTokens: c.overhead(tools.length > 0 ? TOOL_PROMPT_TOKENS : 0),
    attachments: c.attachments,
    cacheWrite: c.cacheWrite,
    serverContext: false,
    usageRequested: true,
    upstreamBody: undefined,
  };
}
