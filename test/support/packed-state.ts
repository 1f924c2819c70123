/**
 * Reads the agent hash's packed state (field `s`, see lua/includes/agent.lua)
 * back into named text fields, so key-level tests can compare agent state
 * field by field. The fields and their layout are the engine's own decoder's
 * (src/engine/redis/state.ts, read from lua/includes/agent.lua).
 */
import { StateReader } from '../../src/engine/redis/state.js';

const reader = new StateReader();

/** The copies of the day's and month's spend (caches of the period keys). */
const COPIES = new Set(['c_day', 'c_dcost', 'c_dovr', 'c_mon', 'c_mcost', 'c_movr']);

/**
 * The fields tests compare: all but the copies of the day's and month's spend
 * (caches of the period keys) and the time of the next purge of idempotency records.
 */
export const STATE_FIELDS: readonly string[] = reader.layout.names.filter(
  (f) => !COPIES.has(f) && f !== 'p_next',
);

/**
 * The packed state as `{ role, status, …, digest }` (STATE_FIELDS), every
 * value as text. The state's copy of the day's spend (c_day, c_dcost) is left
 * out: it is a cache of the day key, which tests read as the record.
 */
export function unpackState(buf: Buffer): Record<string, string> {
  const values = reader.fields(buf);
  const out: Record<string, string> = {};
  for (const name of STATE_FIELDS) out[name] = String(values[name] ?? '');
  return out;
}
