import { Code } from './codes.js';

/**
 * Rate limits: GCRA, one theoretical arrival time (TAT) per limit, whole ms
 * and a remainder in 1/limit ms, integer arithmetic only (docs/limits.md).
 * The same functions as lua/includes/rate.lua, for MemoryEngine: both engines
 * reach the same TATs and the same retry times.
 */
export const RATE_WINDOW_MS = 60_000;

/** One limit's TAT: `tat` whole ms, `frac` the remainder in 1/limit ms (0 <= frac < limit). */
export interface Tat {
  tat: number;
  frac: number;
}

/** The TAT moved by `cost` units (negative: given back) at `now`; never before now. */
export function rateMove(t: Tat, limit: number, cost: number, now: number): Tat {
  let tat = t.tat;
  let frac = t.frac;
  if (tat < now) {
    if (cost <= 0) return t;
    tat = now;
    frac = 0;
  }
  const total = frac + cost * RATE_WINDOW_MS;
  const whole = Math.floor(total / limit);
  tat += whole;
  frac = total - whole * limit;
  return tat < now ? { tat: now, frac: 0 } : { tat, frac };
}

/** `cost` more at `now`: the new TAT when it fits, else the ms until it would (a cost above the limit never does). */
export function rateCheck(
  t: Tat,
  limit: number,
  cost: number,
  now: number,
): { ok: true; next: Tat } | { ok: false; retryMs: number } {
  const next = rateMove(t, limit, cost, now);
  const over = next.tat - now - RATE_WINDOW_MS;
  if (over < 0 || (over === 0 && next.frac === 0)) return { ok: true, next };
  return { ok: false, retryMs: over + (next.frac > 0 ? 1 : 0) };
}

/** An agent's rate limits and their TATs (fields of its state). */
export interface RateState {
  rpm: number;
  tpm: number;
  rTat: Tat;
  tTat: Tat;
}

/**
 * The agent's limits for one request of `tokens`, all or nothing: the new TATs
 * (the caller stores them once it holds), or the denial's code (RATE_REQUESTS
 * first) and the ms until every limit denying it would allow it. Changes nothing.
 */
export function agentRate(
  a: RateState,
  tokens: number,
  now: number,
): { code: null; rTat: Tat; tTat: Tat } | { code: number; retryMs: number } {
  const r = a.rpm > 0 ? rateCheck(a.rTat, a.rpm, 1, now) : { ok: true as const, next: a.rTat };
  const t = a.tpm > 0 ? rateCheck(a.tTat, a.tpm, tokens, now) : { ok: true as const, next: a.tTat };
  if (r.ok && t.ok) return { code: null, rTat: r.next, tTat: t.next };
  if (r.ok) return { code: Code.RATE_TOKENS, retryMs: (t as { retryMs: number }).retryMs };
  const retryMs = t.ok ? r.retryMs : Math.max(r.retryMs, t.retryMs);
  return { code: Code.RATE_REQUESTS, retryMs };
}

/** A closed hold's correction of the tokens per minute: `delta` tokens (used - held; -held on release). */
export function agentRateCorrect(a: RateState, delta: number, now: number): void {
  if (a.tpm > 0 && delta !== 0) a.tTat = rateMove(a.tTat, a.tpm, delta, now);
}
