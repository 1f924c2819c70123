/** Responses API requests: what to count and the output limit (its stream always carries usage). */
import { isObject, type JsonObject } from './json.js';
import { list, type ModelRequest, positive, RequestTexts } from './request-types.js';

const ATTACHMENT_PARTS = new Set(['input_image', 'input_file', 'input_audio']);

function content(v: unknown, parts: string[], c: RequestTexts): void {
  if (typeof v === 'string') {
    parts.push(v);
    return;
  }
  for (const part of list(v)) {
    if (!isObject(part)) parts.push(JSON.stringify(part));
    else if (
      typeof part.text === 'string' &&
      (part.type === 'input_text' || part.type === 'output_text')
    ) {
      parts.push(part.text);
    } else if (part.type === 'refusal' && typeof part.refusal === 'string')
      parts.push(part.refusal);
    else if (typeof part.type === 'string' && ATTACHMENT_PARTS.has(part.type)) c.attachments++;
    else parts.push(JSON.stringify(part));
  }
}

/** One input item's texts; false for an item the request only refers to (kept by the provider). */
function item(it: unknown, c: RequestTexts): boolean {
  if (typeof it === 'string' || !isObject(it)) {
    c.item([typeof it === 'string' ? it : JSON.stringify(it)]);
    return true;
  }
  const parts: string[] = [];
  const type = it.type ?? (it.role === undefined ? undefined : 'message');
  if (type === 'item_reference') return false;
  if (type === 'message') content(it.content, parts, c);
  else if (
    (type === 'function_call' || type === 'custom_tool_call') &&
    typeof it.name === 'string'
  ) {
    const args = it.arguments ?? it.input;
    parts.push(typeof args === 'string' ? `${it.name}\n${args}` : JSON.stringify(it));
  } else if (type === 'function_call_output' || type === 'custom_tool_call_output') {
    content(it.output, parts, c);
  } else parts.push(JSON.stringify(it));
  c.item(parts);
  return true;
}

export function parseResponses(body: JsonObject, model: string): ModelRequest {
  const c = new RequestTexts();
  if (typeof body.instructions === 'string') c.item([body.instructions]);
  let referenced = false;
  if (typeof body.input === 'string') c.item([body.input]);
  else for (const it of list(body.input)) if (!item(it, c)) referenced = true;
  c.json(body.tools);
  const format = isObject(body.text) && isObject(body.text.format) ? body.text.format : undefined;
  if (format?.type === 'json_schema') c.json(format);
  const serverContext =
    referenced ||
    (typeof body.previous_response_id === 'string' && body.previous_response_id !== '') ||
    (body.conversation !== undefined && body.conversation !== null) ||
    (body.prompt !== undefined && body.prompt !== null);
  return {
    api: 'responses',
    model,
    stream: body.stream === true,
    maxOutputTokens: positive(body.max_output_tokens),
    choices: 1,
    texts: c.texts,
    overheadTokens: c.overhead(),
    attachments: c.attachments,
    cacheWrite: 'none',
    serverContext,
    usageRequested: true,
    upstreamBody: undefined,
  };
}
