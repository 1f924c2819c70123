/**
 * The shapes of the metering core (docs/models.md): the three model APIs, one
 * usage shape for all of them, and a model's price in integer micro-dollars per
 * million tokens (the project's money unit: ARCHITECTURE.md).
 */

/** The metered endpoints: `/chat/completions`, `/responses` (OpenAI) and `/messages` (Anthropic). */
export const MODEL_APIS = ['chat', 'responses', 'messages'] as const;
export type ModelApi = (typeof MODEL_APIS)[number];

/**
 * One call's tokens, whatever the provider. The detail counts are parts of the
 * totals, never added to them: `cacheReadTokens` and `cacheWriteTokens` are
 * inside `inputTokens`, `cacheWrite1hTokens` inside `cacheWriteTokens`,
 * `reasoningTokens` inside `outputTokens`. So `inputTokens + outputTokens` is
 * every token of the call, each counted once.
 */
export interface Usage {
  /** Every input token: uncached, cache reads and cache writes. */
  inputTokens: number;
  /** Every output token, reasoning included. */
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache. */
  cacheReadTokens: number;
  /** Input tokens written to the provider's prompt cache (Anthropic). */
  cacheWriteTokens: number;
  /** The part of `cacheWriteTokens` written with a one-hour lifetime (Anthropic). */
  cacheWrite1hTokens?: number;
  /** The part of `outputTokens` the model spent reasoning, when the provider says. */
  reasoningTokens?: number;
}

/** Integer micro-dollars per million tokens, one rate per kind of token. */
export interface TokenRates {
  inputMicrosPerMillion: number;
  outputMicrosPerMillion: number;
  cacheReadMicrosPerMillion: number;
  cacheWriteMicrosPerMillion: number;
  cacheWrite1hMicrosPerMillion: number;
}

/** Rates that replace the base rates for a call whose `inputTokens` is above `aboveInputTokens`. */
export interface RateTier extends TokenRates {
  aboveInputTokens: number;
}

/** A model's price: base rates and tiers (ascending, possibly none). */
export interface ModelPrice {
  readonly rates: Readonly<TokenRates>;
  readonly tiers: readonly Readonly<RateTier>[];
}

/** Where a model's price came from. */
export type PriceSource = 'override' | 'table' | 'default';

/** The answer to "what does this model cost?". */
export interface PriceLookup {
  /** The model as asked. */
  readonly model: string;
  /** The name whose price is used: the override's key, the table's model id, or the default model. */
  readonly pricedAs: string;
  readonly source: PriceSource;
  /** True when the model is unknown and priced at the default model's rates. */
  readonly unknown: boolean;
  readonly price: ModelPrice;
}

/**
 * A price given as plain data (the policy's overrides). `input` and `output`
 * are required; a cache rate left out is the input rate (the one-hour cache
 * write rate: the cache write rate).
 */
export interface RateOverride {
  inputMicrosPerMillion: number;
  outputMicrosPerMillion: number;
  cacheReadMicrosPerMillion?: number;
  cacheWriteMicrosPerMillion?: number;
  cacheWrite1hMicrosPerMillion?: number;
  tiers?: readonly RateTierOverride[];
}

export type RateTierOverride = Omit<RateOverride, 'tiers'> & { aboveInputTokens: number };
