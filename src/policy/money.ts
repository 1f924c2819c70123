/** Money in the policy: USD decimals in the file, integer micro-dollars everywhere else. */

export const MICROS_PER_USD = 1_000_000;

/** Converts USD to integer micro-dollars: `Math.round(usd * 1e6)`. */
export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}

/**
 * The number of decimal places in the shortest text form of `n` (what a JSON or
 * YAML literal with that many places parses back to). Infinity for non-finite numbers.
 */
export function decimalPlaces(n: number): number {
  if (!Number.isFinite(n)) return Number.POSITIVE_INFINITY;
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(Math.abs(n)));
  if (!match) return Number.POSITIVE_INFINITY;
  const fraction = match[2]?.length ?? 0;
  const exponent = match[3] === undefined ? 0 : Number(match[3]);
  return Math.max(0, fraction - exponent);
}
