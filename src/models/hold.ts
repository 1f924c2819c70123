/**
 * The hold of a model call, from its request alone (docs/models.md, "The
 * hold"): input tokens counted offline, output at the request's limit (else the
 * caller's cap), priced with the model's rates as an upper bound of the cost.
 */
import { usageCostMicros } from './cost.js';
import type { CacheWrite, ModelRequest } from './request-types.js';
import { type Counting, countingFor, type TokenCounter } from './token-counter.js';
import type { ModelPrice, Usage } from './types.js';

/** Tokens held per image, file or audio part when the caller gives no figure. */
export const DEFAULT_ATTACHMENT_TOKENS = 1600;

export interface HoldOptions {
  /** Output tokens per choice to hold when the request sets no limit (the role's cap). */
  outputCap: number;
  /** Tokens held per image, file or audio part (default 1,600). */
  attachmentTokens?: number;
  /** How the input is counted (default: o200k for OpenAI's models, the byte bound for others). */
  counting?: Counting;
}

export interface Hold {
  inputTokens: number;
  outputTokens: number;
  /** The cost held, in micro-dollars. */
  costMicros: number;
  counting: Counting;
  /** The usage the cost was priced from. */
  usage: Usage;
}

function checkCount(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  }
}

/** A hold's tokens before pricing: what the server needs to price it (holdCost). */
export interface HoldTokens {
  inputTokens: number;
  outputTokens: number;
  /** The longest prompt-cache write the request asks for (`none` without `cache_control`). */
  cacheWrite: CacheWrite;
}

/** A hold's cost and the usage it was priced from. */
export interface HoldCost {
  /** The cost held, in micro-dollars. */
  costMicros: number;
  /** The usage the cost was priced from. */
  usage: Usage;
}

/**
 * Counts a request's hold in tokens, offline: input = the counted texts + the
 * overhead + a fixed count per attachment; output = the request's limit, else
 * `outputCap`, times its choices.
 */
/** The input tokens held for a request whose texts counted `counted`: plus the overhead and the attachments. */
export function heldInputTokens(
  request: ModelRequest,
  counted: number,
  attachmentTokens: number = DEFAULT_ATTACHMENT_TOKENS,
): number {
  return counted + request.overheadTokens + request.attachments * attachmentTokens;
}

export function holdTokens(
  request: ModelRequest,
  counter: TokenCounter,
  options: HoldOptions,
): HoldTokens & { counting: Counting } {
  checkCount('outputCap', options.outputCap);
  const perAttachment = options.attachmentTokens ?? DEFAULT_ATTACHMENT_TOKENS;
  checkCount('attachmentTokens', perAttachment);
  const counting = options.counting ?? countingFor(request.model);
  const inputTokens = heldInputTokens(
    request,
    counter.count(request.texts, counting),
    perAttachment,
  );
  const outputTokens = (request.maxOutputTokens ?? options.outputCap) * request.choices;
  return { inputTokens, outputTokens, cacheWrite: request.cacheWrite, counting };
}

/**
 * Prices a hold from its tokens alone, as an upper bound of the call's cost:
 * the tokens at the model's rates (tier by the input tokens). When the request
 * may write the prompt cache, every input token may be a cache write: the
 * dearer of input and cache-write pricing (one-hour writes for `1h`).
 */
export function holdCost(tokens: HoldTokens, price: ModelPrice): HoldCost {
  const { inputTokens, outputTokens } = tokens;
  checkCount('inputTokens', inputTokens);
  checkCount('outputTokens', outputTokens);
  const plain: Usage = { inputTokens, outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0 };
  const costMicros = usageCostMicros(plain, price);
  if (tokens.cacheWrite === 'none') return { costMicros, usage: plain };
  const writes: Usage = { ...plain, cacheWriteTokens: inputTokens };
  if (tokens.cacheWrite === '1h') writes.cacheWrite1hTokens = inputTokens;
  const writeCost = usageCostMicros(writes, price);
  return writeCost > costMicros
    ? { costMicros: writeCost, usage: writes }
    : { costMicros, usage: plain };
}

/** The hold of a request: holdTokens priced with holdCost. */
export function holdFor(
  request: ModelRequest,
  price: ModelPrice,
  counter: TokenCounter,
  options: HoldOptions,
): Hold {
  const tokens = holdTokens(request, counter, options);
  const { costMicros, usage } = holdCost(tokens, price);
  return {
    inputTokens: tokens.inputTokens,
    outputTokens: tokens.outputTokens,
    costMicros,
    counting: tokens.counting,
    usage,
  };
}
