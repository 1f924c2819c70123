/**
 * Input tokens counted offline (docs/models.md, "The hold"): OpenAI's models
 * with the o200k encoding (`gpt-tokenizer`'s count, src/models/o200k-count.ts),
 * memoized per text in a bounded LRU keyed by the text's SHA-256, so a resent
 * history is not counted again; any other model with the bound
 * ceil(utf8Bytes / 2.5), which needs no memo.
 */
import { hash } from 'node:crypto';
import { Lru } from './lru.js';
import { o200kCounterOf } from './o200k-count.js';
import { packageProviderOf } from './package-prices.js';

/** How a model's input tokens are counted. */
export type Counting = 'o200k' | 'bytes';

/** Counts one text's tokens. */
export type CountText = (text: string) => number;

export interface TokenCounterOptions {
  /** The o200k count of one text: `await loadO200k()`, or a stand-in in tests. */
  o200k: CountText;
  /** How many texts' counts the memo keeps (default 10,000). */
  maxEntries?: number;
}

export interface TokenCounter {
  /** The tokens of all the texts by the counting; o200k counts come from the memo when it has them. */
  count(texts: Iterable<string>, counting: Counting): number;
  /** How many counts the memo holds. */
  readonly memoSize: number;
}

export const DEFAULT_MEMO_ENTRIES = 10_000;

/** ceil(utf8Bytes / 2.5), on integers. */
export function bytesBound(text: string): number {
  return Math.ceil((Buffer.byteLength(text, 'utf8') * 2) / 5);
}

/** countingFor's answers by model name: the price data's pattern match costs ~2.5 µs a call, the memo ~0.3. */
const COUNTINGS = new Lru<string, Counting>(1_000);

/** o200k for a model the price data files under OpenAI (`gpt-…`, `o1…`, `o3…`, `o4…`); the byte bound for any other. */
export function countingFor(model: string): Counting {
  let counting = COUNTINGS.get(model);
  if (counting === undefined) {
    counting = packageProviderOf(model) === 'openai' ? 'o200k' : 'bytes';
    COUNTINGS.set(model, counting);
  }
  return counting;
}

/**
 * gpt-tokenizer's o200k count, loaded on first need (its tables take ~200 ms
 * and ~70 MB, so a process that meters no model call never loads them). Special
 * tokens in a text are counted as ordinary text, as the providers do. The count
 * is `countTokens`'s, computed faster (src/models/o200k-count.ts); with a
 * gpt-tokenizer whose internals differ, `countTokens` itself.
 */
export async function loadO200k(): Promise<CountText> {
  const { default: encoding } = await import('gpt-tokenizer/encoding/o200k_base');
  const fast = o200kCounterOf(encoding);
  if (fast !== undefined) return fast;
  const options = { disallowedSpecial: new Set<string>() };
  return (text) => encoding.countTokens(text, options);
}

export function createTokenCounter(options: TokenCounterOptions): TokenCounter {
  const memo = new Lru<string, number>(options.maxEntries ?? DEFAULT_MEMO_ENTRIES);
  const o200k = (text: string): number => {
    if (text.length === 0) return 0;
    const key = hash('sha256', text, 'base64');
    let n = memo.get(key);
    if (n === undefined) {
      n = options.o200k(text);
      memo.set(key, n);
    }
    return n;
  };
  return {
    count(texts, counting) {
      let total = 0;
      for (const text of texts) total += counting === 'o200k' ? o200k(text) : bytesBound(text);
      return total;
    },
    get memoSize() {
      return memo.size;
    },
  };
}
