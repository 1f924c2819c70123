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

/** Utilization as text with two decimals, truncated (the same digits as the scripts). */
export function pct(used: number, limit: number): string {
  if (limit <= 0) return used > 0 ? '100.00' : '0.00';
  const bp = Math.floor((used * 10000) / limit);
  return `${Math.floor(bp / 100)}.${String(bp % 100).padStart(2, '0')}`;
}

/** pct() as a number (bp / 100 is the same double as parsing its text). */
export function pctNumber(used: number, limit: number): number {
  if (limit <= 0) return used > 0 ? 100 : 0;
  return Math.floor((used * 10000) / limit) / 100;
}

export const microsToUsd = (micros: number): number => micros / 1_000_000;
export const usdToMicros = (usd: number): number => Math.round(usd * 1_000_000);
