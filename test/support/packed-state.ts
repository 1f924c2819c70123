/**
 * Reads the agent hash's packed state (field `s`, `struct`-packed, see
 * lua/includes/agent.lua) back into named text fields, so key-level tests can
 * compare agent state field by field.
 */
/** The packed state's values, in STATE_FORMAT's order. */
const ORDER = [
  'role',
  'status',
  'sid',
  's_start',
  's_limit',
  'd_limit',
  's_used',
  's_res',
  's_cost',
  'c_res',
  'blocked',
  'next_exp',
  'c_day',
  'c_dcost',
  'c_dovr',
  's_ovr',
  'p_next',
  'digest',
] as const;

/**
 * The fields tests compare: all but the copy of the day's spend (a cache of the
 * day key) and the time of the next purge of idempotency records.
 */
export const STATE_FIELDS: readonly string[] = ORDER.filter(
  (f) => f !== 'c_day' && f !== 'c_dcost' && f !== 'c_dovr' && f !== 'p_next',
);

/**
 * The values of a version-3 state (lua/includes/agent.lua STATE_FORMAT,
 * `<Bsssdddddddddddddds`: a version byte 3, then little-endian doubles and
 * zero-terminated strings), in STATE_FORMAT's order.
 */
const FORMAT = 'sssdddddddddddddds';

function readValues(buf: Buffer): (string | number)[] {
  if (buf[0] !== 3) throw new Error(`packed state: version ${buf[0]}, expected 3`);
  const out: (string | number)[] = [];
  let i = 1;
  for (const f of FORMAT) {
    if (f === 'd') {
      out.push(buf.readDoubleLE(i));
      i += 8;
    } else {
      const z = buf.indexOf(0, i);
      if (z < 0) throw new Error('packed state: a string without its terminating zero');
      out.push(buf.toString('utf8', i, z));
      i = z + 1;
    }
  }
  if (i !== buf.length) throw new Error(`packed state: ${buf.length - i} bytes left over`);
  return out;
}

/**
 * The packed state as `{ role, status, …, digest }` (STATE_FIELDS), every
 * value as text. The state's copy of the day's spend (c_day, c_dcost) is left
 * out: it is a cache of the day key, which tests read as the record.
 */
export function unpackState(buf: Buffer): Record<string, string> {
  const values = readValues(buf);
  const out: Record<string, string> = {};
  ORDER.forEach((name, k) => {
    if (STATE_FIELDS.includes(name)) out[name] = String(values[k] ?? '');
  });
  return out;
}
