/**
 * The hold of a model call, from its request alone (docs/models.md, "The
 * hold"): input tokens counted offline, output at the request's limit (else the
 * caller's cap), priced with the model's rates as an upper bound of the cost.
 */
import { usageCostMicros } from './cost.js';
import type { ModelRequest } from './request-types.js';
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

export function holdFor(
  request: ModelRequest,
  price: ModelPrice,
  counter: TokenCounter,
  options: HoldOptions,
): Hold {
  checkCount('outputCap', options.outputCap);
  const perAttachment = options.attachmentTokens ?? DEFAULT_ATTACHMENT_TOKENS;
  checkCount('attachmentTokens', perAttachment);
  const counting = options.counting ?? countingFor(request.model);
  const inputTokens =
    counter.count(request.texts, counting) +
    request.overheadTokens +
    request.attachments * perAttachment;
  const outputTokens = (request.maxOutputTokens ?? options.outputCap) * request.choices;
  const plain: Usage = { inputTokens, outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0 };
  let usage = plain;
  let costMicros = usageCostMicros(plain, price);
  if (request.cacheWrite !== 'none') {
    // Every input token might be a cache write: hold the dearer of the two.
    const writes: Usage = { ...plain, cacheWriteTokens: inputTokens };
    if (request.cacheWrite === '1h') writes.cacheWrite1hTokens = inputTokens;
    const writeCost = usageCostMicros(writes, price);
    if (writeCost > costMicros) {
      usage = writes;
      costMicros = writeCost;
    }
  }
  return { inputTokens, outputTokens, costMicros, counting, usage };
}
