import { loadScript } from './redis/lua.js';

/**
 * Budget alert thresholds, in percent: lua/includes/alerts.lua ALERT_PCTS, the
 * one list (read from the script, so both engines fire at the same ones).
 */
export const ALERT_THRESHOLDS: readonly number[] = readThresholds(loadScript('includes/alerts'));

/** ALERT_PCTS of the include's text. */
export function readThresholds(lua: string): readonly number[] {
  const list = /local ALERT_PCTS = \{([\d\s,]*)\}/.exec(lua)?.[1];
  if (list === undefined) throw new Error('lua/includes/alerts.lua: no ALERT_PCTS');
  return Object.freeze(
    list
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '')
      .map(Number),
  );
}

/**
 * The thresholds crossed when a budget's used amount went from `before` to
 * `after` of `limit` (0: no limit, no alerts): used * 100 reached pct * limit
 * (lua/includes/alerts.lua alertCrossed). Undefined when none (the common case).
 */
export function crossedThresholds(
  before: number,
  after: number,
  limit: number,
): number[] | undefined {
  if (limit <= 0 || after <= before) return undefined;
  const b = before * 100;
  const x = after * 100;
  let hits: number[] | undefined;
  for (const pct of ALERT_THRESHOLDS) {
    const t = pct * limit;
    if (b < t && x >= t) {
      hits ??= [];
      hits.push(pct);
    }
  }
  return hits;
}
