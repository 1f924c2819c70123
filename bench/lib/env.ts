/** A positive number from the environment (BENCH_SECONDS, …), else `fallback`. */
export function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? '');
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
