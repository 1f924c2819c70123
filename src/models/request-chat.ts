/** Chat Completions requests: what to count, the output limit, and the stream's usage chunk. */
import { isObject, type JsonObject } from './json.js';
import { list, type ModelRequest, positive, RequestTexts } from './request-types.js';

function content(v: unknown, parts: string[], c: RequestTexts): void {
  if (typeof v === 'string') {
    parts.push(v);
    return;
  }
  for (const part of list(v)) {
    if (!isObject(part)) parts.push(JSON.stringify(part));
    else if (part.type === 'text' && typeof part.text === 'string') parts.push(part.text);
    else if (part.type === 'refusal' && typeof part.refusal === 'string') parts.push(part.refusal);
    else if (part.type === 'image_url' || part.type === 'input_audio' || part.type === 'file') {
      c.attachments++;
    } else parts.push(JSON.stringify(part));
  }
}

function toolCall(call: unknown): string {
  if (isObject(call)) {
    const fn = isObject(call.function) ? call.function : isObject(call.custom) ? call.custom : call;
    const args = fn.arguments ?? fn.input;
    if (typeof fn.name === 'string' && typeof args === 'string') return `${fn.name}\n${args}`;
  }
  return JSON.stringify(call);
}

export function parseChat(body: JsonObject, model: string): ModelRequest {
  const c = new RequestTexts();
  for (const m of list(body.messages)) {
    if (!isObject(m)) {
      c.item([JSON.stringify(m)]);
      continue;
    }
    const parts: string[] = [];
    if (typeof m.name === 'string') parts.push(m.name);
    content(m.content, parts, c);
    if (typeof m.refusal === 'string') parts.push(m.refusal);
    for (const call of list(m.tool_calls)) parts.push(toolCall(call));
    if (m.function_call !== undefined && m.function_call !== null) {
      parts.push(toolCall({ function: m.function_call }));
    }
    if (m.audio !== undefined && m.audio !== null) c.attachments++;
    c.item(parts);
  }
  c.json(body.tools);
  c.json(body.functions);
  const format = isObject(body.response_format) ? body.response_format : undefined;
  if (format?.type === 'json_schema') c.json(format.json_schema);

  const stream = body.stream === true;
  const options = isObject(body.stream_options) ? body.stream_options : undefined;
  const usageRequested = !stream || options?.include_usage === true;
  return {
    api: 'chat',
    model,
    stream,
    maxOutputTokens: positive(body.max_completion_tokens) ?? positive(body.max_tokens),
    choices: positive(body.n) ?? 1,
    texts: c.texts,
    overheadTokens: c.overhead(),
    attachments: c.attachments,
    cacheWrite: 'none',
    serverContext: false,
    usageRequested,
    upstreamBody: usageRequested
      ? undefined
      : { ...body, stream_options: { ...options, include_usage: true } },
  };
}
