/**
 * What OpenAI and Anthropic send, for the stand-in upstream
 * (test/support/model-upstream.ts): the JSON bodies, the event streams as
 * SSE frames, the error bodies and the usage objects, in the shapes of the
 * real APIs (Chat Completions, Responses, Messages, Models), field for field
 * as the providers' API references and the openai 6.30.1 and
 * @anthropic-ai/sdk 1.17.0 types describe them.
 */
import { randomBytes } from 'node:crypto';
import type { Usage } from '../../src/models/types.js';

export type ModelApi = 'chat' | 'responses' | 'messages';
export type Provider = 'openai' | 'anthropic';

/**
 * The usage a stand-in answer reports, with the meaning of src/models `Usage`:
 * `inputTokens` is every input token (cache reads and writes included) and
 * `outputTokens` every output token (reasoning included); the others are
 * parts of them. Each API gets it in its own fields (docs/models.md, "Usage"):
 * OpenAI has no cache writes, and Anthropic's `input_tokens` is the input
 * left after the cache reads and writes.
 */
export interface UsageFigures {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  /** Anthropic only. */
  cacheWriteTokens?: number;
  /** Anthropic only: the part of the writes kept one hour. */
  cacheWrite1hTokens?: number;
  /** OpenAI: `reasoning_tokens`; Anthropic: `output_tokens_details.thinking_tokens`. */
  reasoningTokens?: number;
}

/** One SSE frame (`event:` line when the API names its events, `data:` line, blank line). */
export type Frame = string;

const id = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const frame = (data: object | string, event?: string): Frame =>
  `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
/** OpenAI's `obfuscation` member: random padding on streamed deltas, unless the request turns it off. */
const padding = () => randomBytes(1 + Math.floor(Math.random() * 8)).toString('base64url');

/** `text` cut into `n` pieces (by code point; at least one, none empty unless the text is). */
export function splitText(text: string, n: number): string[] {
  const chars = [...text];
  const count = Math.max(1, Math.min(n, chars.length));
  const size = Math.ceil(chars.length / count);
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces.length > 0 ? pieces : [''];
}

// ---------------------------------------------------------------------------
// Usage objects

export function chatWireUsage(u: UsageFigures) {
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: u.reasoningTokens ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function responsesWireUsage(u: UsageFigures) {
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: { cached_tokens: u.cacheReadTokens ?? 0 },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}

export function messagesWireUsage(u: UsageFigures) {
  const read = u.cacheReadTokens ?? 0;
  const write = u.cacheWriteTokens ?? 0;
  const write1h = u.cacheWrite1hTokens ?? 0;
  return {
    input_tokens: u.inputTokens - read - write,
    cache_creation_input_tokens: write,
    cache_read_input_tokens: read,
    cache_creation: {
      ephemeral_5m_input_tokens: write - write1h,
      ephemeral_1h_input_tokens: write1h,
    },
    output_tokens: u.outputTokens,
    output_tokens_details:
      u.reasoningTokens === undefined ? null : { thinking_tokens: u.reasoningTokens },
    server_tool_use: null,
    service_tier: 'standard',
  };
}

/** The `usage` object an answer of `api` carries for `u`. */
export function wireUsage(api: ModelApi, u: UsageFigures): object {
  if (api === 'chat') return chatWireUsage(u);
  return api === 'responses' ? responsesWireUsage(u) : messagesWireUsage(u);
}

/** The src/models `Usage` a meter should read from an answer of `api` carrying `u`. */
export function expectedUsage(api: ModelApi, u: UsageFigures): Usage {
  const usage: Usage = {
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    cacheReadTokens: u.cacheReadTokens ?? 0,
    cacheWriteTokens: api === 'messages' ? (u.cacheWriteTokens ?? 0) : 0,
  };
  if (api === 'messages') usage.cacheWrite1hTokens = u.cacheWrite1hTokens ?? 0;
  if (api !== 'messages') usage.reasoningTokens = u.reasoningTokens ?? 0;
  return usage;
}

// ---------------------------------------------------------------------------
// Answers

/** What every answer is made from. */
export interface AnswerInput {
  model: string;
  pieces: string[];
  usage: UsageFigures;
  /** The request body (for its stream options). */
  body: Record<string, unknown>;
}

const streamOptions = (body: Record<string, unknown>) =>
  (body.stream_options ?? {}) as { include_usage?: boolean; include_obfuscation?: boolean };

export function chatCompletion({ model, pieces, usage }: AnswerInput) {
  return {
    id: id('chatcmpl-'),
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: pieces.join(''), refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: chatWireUsage(usage),
    service_tier: 'default',
    system_fingerprint: 'fp_standin',
  };
}

/**
 * A chat stream: the role chunk, one chunk per piece, the finish chunk; when
 * `stream_options.include_usage` is true every chunk has `"usage":null` and a
 * last chunk with `choices: []` carries the usage; then `data: [DONE]`.
 */
export function chatFrames({ model, pieces, usage, body }: AnswerInput): Frame[] {
  const opts = streamOptions(body);
  const withUsage = opts.include_usage === true;
  const base = {
    id: id('chatcmpl-'),
    object: 'chat.completion.chunk',
    created: nowSeconds(),
    model,
    service_tier: 'default',
    system_fingerprint: 'fp_standin',
  };
  const chunk = (delta: object, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(withUsage ? { usage: null } : {}),
    ...(opts.include_obfuscation === false ? {} : { obfuscation: padding() }),
  });
  const chunks: object[] = [
    chunk({ role: 'assistant', content: '', refusal: null }, null),
    ...pieces.map((content) => chunk({ content }, null)),
    chunk({}, 'stop'),
  ];
  if (withUsage) chunks.push({ ...base, choices: [], usage: chatWireUsage(usage) });
  return [...chunks.map((c) => frame(c)), frame('[DONE]')];
}

function responseObject(input: AnswerInput, status: 'in_progress' | 'completed', respId: string) {
  const { model, pieces, usage, body } = input;
  const done = status === 'completed';
  return {
    id: respId,
    object: 'response',
    created_at: nowSeconds(),
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model,
    output: done ? [messageItem(pieces.join(''), 'completed')] : [],
    parallel_tool_calls: true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: true,
    temperature: 1.0,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: 'auto',
    tools: [],
    top_p: 1.0,
    truncation: 'disabled',
    usage: done ? responsesWireUsage(usage) : null,
    user: null,
    metadata: {},
  };
}

const MSG_ITEM_ID = 'msg_standin0000000000000000';
const textPart = (text: string) => ({ type: 'output_text', annotations: [], logprobs: [], text });
const messageItem = (text: string, status: 'in_progress' | 'completed') => ({
  id: MSG_ITEM_ID,
  type: 'message',
  status,
  role: 'assistant',
  content: status === 'completed' ? [textPart(text)] : [],
});

export function responsesResponse(input: AnswerInput) {
  return responseObject(input, 'completed', id('resp_'));
}

/**
 * A Responses stream of typed events with `sequence_number`: created,
 * in_progress, output_item.added, content_part.added, one output_text.delta
 * per piece, output_text.done, content_part.done, output_item.done, and
 * response.completed with the usage. No `[DONE]`.
 */
export function responsesFrames(input: AnswerInput): Frame[] {
  const respId = id('resp_');
  const text = input.pieces.join('');
  const noPadding = streamOptions(input.body).include_obfuscation === false;
  const at = { item_id: MSG_ITEM_ID, output_index: 0, content_index: 0 };
  const events: [string, object][] = [
    ['response.created', { response: responseObject(input, 'in_progress', respId) }],
    ['response.in_progress', { response: responseObject(input, 'in_progress', respId) }],
    ['response.output_item.added', { output_index: 0, item: messageItem('', 'in_progress') }],
    ['response.content_part.added', { ...at, part: textPart('') }],
    ...input.pieces.map((delta): [string, object] => [
      'response.output_text.delta',
      { ...at, delta, logprobs: [], ...(noPadding ? {} : { obfuscation: padding() }) },
    ]),
    ['response.output_text.done', { ...at, text, logprobs: [] }],
    ['response.content_part.done', { ...at, part: textPart(text) }],
    ['response.output_item.done', { output_index: 0, item: messageItem(text, 'completed') }],
    ['response.completed', { response: responseObject(input, 'completed', respId) }],
  ];
  return events.map(([type, data], sequence_number) =>
    frame({ type, sequence_number, ...data }, type),
  );
}

function anthropicMessage(input: AnswerInput, msgId: string, usage: object, streaming: boolean) {
  return {
    id: msgId,
    type: 'message',
    role: 'assistant',
    model: input.model,
    content: streaming ? [] : [{ type: 'text', text: input.pieces.join(''), citations: null }],
    stop_reason: streaming ? null : 'end_turn',
    stop_sequence: null,
    usage,
  };
}

export function messagesMessage(input: AnswerInput) {
  return anthropicMessage(input, id('msg_'), messagesWireUsage(input.usage), false);
}

/**
 * A Messages stream: message_start (input and cache counts, output so far),
 * content_block_start, a ping, one content_block_delta per piece,
 * content_block_stop, message_delta with the cumulative usage, message_stop.
 */
export function messagesFrames(input: AnswerInput): Frame[] {
  const full = messagesWireUsage(input.usage);
  const startUsage = {
    ...full,
    output_tokens: Math.min(1, input.usage.outputTokens),
    output_tokens_details: null,
  };
  const { cache_creation: _c, service_tier: _s, ...deltaUsage } = full;
  const events: [string, object][] = [
    ['message_start', { message: anthropicMessage(input, id('msg_'), startUsage, true) }],
    [
      'content_block_start',
      { index: 0, content_block: { type: 'text', text: '', citations: null } },
    ],
    ['ping', {}],
    ...input.pieces.map((text): [string, object] => [
      'content_block_delta',
      { index: 0, delta: { type: 'text_delta', text } },
    ]),
    ['content_block_stop', { index: 0 }],
    [
      'message_delta',
      { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: deltaUsage },
    ],
    ['message_stop', {}],
  ];
  return events.map(([type, data]) => frame({ type, ...data }, type));
}

export function modelsList(provider: Provider, models: readonly string[]) {
  if (provider === 'openai') {
    return {
      object: 'list',
      data: models.map((m) => ({
        id: m,
        object: 'model',
        created: 1_700_000_000,
        owned_by: 'system',
      })),
    };
  }
  const data = models.map((m) => ({
    type: 'model',
    id: m,
    display_name: m,
    created_at: '2025-05-14T00:00:00Z',
  }));
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

/** The paths served (under `/v1`, as the providers have them), with each one's method. */
export const ROUTES: Record<string, { method: string; api: ModelApi | 'models' }> = {
  '/v1/chat/completions': { method: 'POST', api: 'chat' },
  '/v1/responses': { method: 'POST', api: 'responses' },
  '/v1/messages': { method: 'POST', api: 'messages' },
  '/v1/models': { method: 'GET', api: 'models' },
};

/** Each API's JSON answer and event stream. */
export const ANSWERS = {
  chat: { json: chatCompletion, frames: chatFrames },
  responses: { json: responsesResponse, frames: responsesFrames },
  messages: { json: messagesMessage, frames: messagesFrames },
} satisfies Record<
  ModelApi,
  { json: (i: AnswerInput) => object; frames: (i: AnswerInput) => Frame[] }
>;

// ---------------------------------------------------------------------------
// Errors

const OPENAI_ERRORS: Record<number, [type: string, code: string | null]> = {
  400: ['invalid_request_error', null],
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['invalid_request_error', 'unsupported_country_region_territory'],
  404: ['invalid_request_error', 'unknown_url'],
  429: ['requests', 'rate_limit_exceeded'],
};
const ANTHROPIC_ERRORS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** The error body each provider sends with `status`. */
export function errorBody(provider: Provider, status: number, message: string, requestId: string) {
  if (provider === 'openai') {
    const [type, code] = OPENAI_ERRORS[status] ?? ['server_error', null];
    return { error: { message, type, param: null, code } };
  }
  const type = ANTHROPIC_ERRORS[status] ?? 'api_error';
  return { type: 'error', error: { type, message }, request_id: requestId };
}
