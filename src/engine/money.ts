/**
 * Money is integer micro-dollars; rates are integer micro-dollars per million
 * tokens. Rounds up, exactly (the same rule as lua/includes/money.lua).
 */
export function costMicros(
  inTokens: number,
  inRate: number,
  outTokens: number,
  outRate: number,
): number {
  const x = inTokens * inRate + outTokens * outRate;
  const r = x % 1_000_000;
  return (x - r) / 1_000_000 + (r > 0 ? 1 : 0);
}

/**
 * Utilization in basis points, truncated (the digits of the scripts' text):
 * used over limit times 10,000; with no limit, 10,000 if anything was used.
 */
export function pctBp(used: number, limit: number): number {
  if (limit <= 0) return used > 0 ? 10_000 : 0;
  return Math.floor((used * 10000) / limit);
}

/** Basis points as the scripts' utilization text: percent with two decimals. */
export function bpText(bp: number): string {
  return `${Math.floor(bp / 100)}.${String(bp % 100).padStart(2, '0')}`;
}

/** Utilization as text with two decimals, truncated (the same digits as the scripts). */
export function pct(used: number, limit: number): string {
  return bpText(pctBp(used, limit));
}

/** pct() as a number (bp / 100 is the same double as parsing its text). */
export function pctNumber(used: number, limit: number): number {
  return pctBp(used, limit) / 100;
}

export const microsToUsd = (micros: number): number => micros / 1_000_000;
export const usdToMicros = (usd: number): number => Math.round(usd * 1_000_000);
