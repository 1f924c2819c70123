import { TollgateError } from '../errors.js';

/** Most thresholds a list may have. */
export const MAX_ALERT_THRESHOLDS = 10;
/** Highest threshold, in percent of the limit. */
export const MAX_ALERT_PCT = 1000;

/**
 * Budget alert thresholds (docs/operations.md, "Alerts"): in percent of a
 * limit, strictly increasing, checked once and frozen, with the values
 * lua/settle-1.lua and lua/recordUsage-3.lua take for them. The policy makes
 * one when it is loaded (`policy.alerts`, its `alerts.thresholds`); a settle
 * or recorded usage carries it to the engine (absent: no alerts).
 */
export interface AlertThresholds {
  /** In percent, strictly increasing; empty: no alerts. */
  readonly pcts: readonly number[];
  /** The scripts' alertMin: the lowest, as text ('' for none). */
  readonly min: string;
  /** The scripts' alertPcts: the list joined by ',' (equal lists, equal texts). */
  readonly text: string;
}

/** What is wrong with a list of thresholds, or undefined (src/policy/schema.ts checks the same). */
function problemOf(pcts: readonly unknown[]): string | undefined {
  if (pcts.length > MAX_ALERT_THRESHOLDS) {
    return `expected at most ${MAX_ALERT_THRESHOLDS} thresholds`;
  }
  for (let i = 0; i < pcts.length; i++) {
    const t = pcts[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_ALERT_PCT) {
      return `expected integer percentages from 1 to ${MAX_ALERT_PCT}`;
    }
    if (i > 0 && t <= (pcts[i - 1] as number)) {
      return 'expected thresholds in increasing order, each once';
    }
  }
  return undefined;
}

/** Checks the list (VALIDATION_FAILED, field `alert_thresholds`) and builds its frozen thresholds. */
export function alertThresholds(pcts: readonly number[]): AlertThresholds {
  const problem = problemOf(pcts);
  if (problem !== undefined) {
    throw new TollgateError('VALIDATION_FAILED', `Invalid alert thresholds: ${problem}`, {
      field: 'alert_thresholds',
    });
  }
  const list = Object.freeze([...pcts]);
  return Object.freeze({
    pcts: list,
    min: list.length === 0 ? '' : String(list[0]),
    text: list.join(','),
  });
}

/** No thresholds: a settle or usage that carries none fires no alert. */
export const NO_ALERTS: AlertThresholds = alertThresholds([]);

/**
 * The thresholds of `pcts` crossed when a budget's used amount went from
 * `before` to `after` of `limit` (0: no limit, no alerts): used * 100 reached
 * pct * limit (lua/includes/alerts.lua alertCrossed). Undefined when none
 * (the common case).
 */
export function crossedThresholds(
  pcts: readonly number[],
  before: number,
  after: number,
  limit: number,
): number[] | undefined {
  if (limit <= 0 || after <= before) return undefined;
  const b = before * 100;
  const x = after * 100;
  let hits: number[] | undefined;
  for (const pct of pcts) {
    const t = pct * limit;
    if (b < t && x >= t) {
      hits ??= [];
      hits.push(pct);
    }
  }
  return hits;
}
