/**
 * Reads the agent hash's packed state (field `s`, cmsgpack, see
 * lua/includes/agent.lua) back into named text fields, so key-level tests can
 * compare agent state field by field. A minimal MessagePack reader: the
 * types cmsgpack writes for our values (strings, integers, doubles, nil).
 */
export const STATE_FIELDS = [
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
  'digest',
] as const;

function readValues(buf: Buffer): (string | number | null)[] {
  const out: (string | number | null)[] = [];
  let i = 0;
  const str = (n: number) => {
    const s = buf.toString('utf8', i, i + n);
    i += n;
    return s;
  };
  while (i < buf.length) {
    const b = buf[i++] as number;
    if (b <= 0x7f) out.push(b);
    else if (b >= 0xe0) out.push(b - 0x100);
    else if (b >= 0xa0 && b <= 0xbf) out.push(str(b & 0x1f));
    else if (b === 0xc0) out.push(null);
    else if (b === 0xd9) out.push(str(buf[i++] as number));
    else if (b === 0xda) {
      const n = buf.readUInt16BE(i);
      i += 2;
      out.push(str(n));
    } else if (b === 0xcc) out.push(buf[i++] as number);
    else if (b === 0xcd) {
      out.push(buf.readUInt16BE(i));
      i += 2;
    } else if (b === 0xce) {
      out.push(buf.readUInt32BE(i));
      i += 4;
    } else if (b === 0xcf) {
      out.push(Number(buf.readBigUInt64BE(i)));
      i += 8;
    } else if (b === 0xd0) out.push(buf.readInt8(i++));
    else if (b === 0xd1) {
      out.push(buf.readInt16BE(i));
      i += 2;
    } else if (b === 0xd2) {
      out.push(buf.readInt32BE(i));
      i += 4;
    } else if (b === 0xd3) {
      out.push(Number(buf.readBigInt64BE(i)));
      i += 8;
    } else if (b === 0xcb) {
      out.push(buf.readDoubleBE(i));
      i += 8;
    } else if (b === 0xca) {
      out.push(buf.readFloatBE(i));
      i += 4;
    } else throw new Error(`packed state: unexpected MessagePack byte 0x${b.toString(16)}`);
  }
  return out;
}

/** The packed state as `{ role, status, …, digest }`, every value as text. */
export function unpackState(buf: Buffer): Record<string, string> {
  const values = readValues(buf);
  if (values.length !== STATE_FIELDS.length) {
    throw new Error(`packed state: ${values.length} values, expected ${STATE_FIELDS.length}`);
  }
  const out: Record<string, string> = {};
  STATE_FIELDS.forEach((name, k) => {
    out[name] = String(values[k] ?? '');
  });
  return out;
}
