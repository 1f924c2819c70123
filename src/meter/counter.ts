/**
 * The token counter of a metered fetch or gateway: one memo per instance
 * (src/models/token-counter.ts), whose o200k tables load on the first OpenAI
 * model call (docs/models.md, "Counting").
 */
import {
  type Counting,
  createTokenCounter,
  loadO200k,
  type TokenCounter,
} from '../models/token-counter.js';

export interface LazyTokenCounter {
  count(texts: readonly string[], counting: Counting): Promise<number> | number;
}

export function lazyTokenCounter(options: { maxEntries?: number } = {}): LazyTokenCounter {
  let counter: TokenCounter | undefined;
  let loading: Promise<TokenCounter> | undefined;
  const bytesOnly = createTokenCounter({
    o200k: () => {
      throw new Error('o200k is not loaded');
    },
  });
  return {
    count(texts, counting) {
      if (counting === 'bytes') return bytesOnly.count(texts, 'bytes');
      if (counter !== undefined) return counter.count(texts, counting);
      loading ??= loadO200k().then((o200k) => {
        counter = createTokenCounter({ o200k, maxEntries: options.maxEntries });
        return counter;
      });
      return loading.then((c) => c.count(texts, counting));
    },
  };
}
