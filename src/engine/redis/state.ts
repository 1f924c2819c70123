import type { AgentStatus, EngineStatus } from '../types.js';
import { loadScript } from './lua.js';

/**
 * The agent's packed state (field `s` of the agent hash), which every script
 * answers (lua/includes/agent.lua stateReply): `struct`-packed by
 * STATE_FORMAT, a version byte, then each field as a zero-terminated string
 * (`s`) or a little-endian double (`d`). The names and types are read from
 * lua/includes/agent.lua (STATE_FORMAT and the one `struct.unpack` in
 * unpackAgent): that file is the one definition, this is its one decoder. A
 * plain agent's state is packed shorter (STATE_FORMAT_PLAIN, a version of its
 * own: a prefix of the fields, the rest 0 or ''); both are read here.
 */
export interface StateLayout {
  readonly version: number;
  /** The fields after the version byte, in order. */
  readonly names: readonly string[];
  /** One letter per field: `s` text, `d` double. */
  readonly types: string;
  /** The plain agent's shorter layout (its fields among `names`; the others 0 or ''). */
  readonly plain?: StateLayout;
}

export class PackedStateError extends Error {
  override readonly name = 'PackedStateError';
}

/** One layout of lua/includes/agent.lua: STATE_FORMAT<suffix>, STATE_VERSION<suffix> and its unpack. */
function layoutOf(lua: string, suffix: string): StateLayout | undefined {
  const format = new RegExp(`local STATE_FORMAT${suffix} = '<B([sd]+)'`).exec(lua)?.[1];
  const version = new RegExp(`local STATE_VERSION${suffix} = (\\d+)`).exec(lua)?.[1];
  const list = new RegExp(
    `version\\s*,([^=]*?)=\\s*struct\\.unpack\\(STATE_FORMAT${suffix}, v\\)`,
  ).exec(lua)?.[1];
  if (format === undefined || version === undefined || list === undefined) return undefined;
  const names = list
    .split(',')
    .map((s) => s.trim().replace(/^a\./, ''))
    .filter((s) => s !== '');
  if (names.length !== format.length) return undefined;
  return Object.freeze({ version: Number(version), names: Object.freeze(names), types: format });
}

/** The layout as lua/includes/agent.lua (or the text given) defines it, with the plain agent's. */
export function readStateLayout(lua = loadScript('includes/agent')): StateLayout {
  const full = layoutOf(lua, '');
  if (full === undefined) {
    throw new PackedStateError('lua/includes/agent.lua: no readable STATE_FORMAT and unpackAgent');
  }
  const plain = layoutOf(lua, '_PLAIN');
  if (plain === undefined) return full;
  if (
    plain.names.some(
      (n, k) => full.names.indexOf(n) < 0 || full.types[full.names.indexOf(n)] !== plain.types[k],
    )
  ) {
    throw new PackedStateError(
      'lua/includes/agent.lua: STATE_FORMAT_PLAIN has a field STATE_FORMAT has not',
    );
  }
  return Object.freeze({ ...full, plain });
}

/** The status's numbers and the state fields they are. */
const STATUS_NUMBERS = {
  sessionStartedMs: 's_start',
  sessionTokensUsed: 's_used',
  sessionTokensReserved: 's_res',
  sessionTokenLimit: 's_limit',
  sessionCostMicros: 's_cost',
  dailyCostMicros: 'c_dcost',
  dailyReservedMicros: 'c_res',
  dailyLimitMicros: 'd_limit',
  operationsBlocked: 'blocked',
  sessionOverrunTokens: 's_ovr',
  dailyOverrunMicros: 'c_dovr',
  requestsPerMinute: 'rpm',
  tokensPerMinute: 'tpm',
  day: 'c_day',
  month: 'c_mon',
  monthlyCostMicros: 'c_mcost',
  monthlyOverrunMicros: 'c_movr',
  monthlyLimitMicros: 'm_limit',
} as const;
type StatusNumber = keyof typeof STATUS_NUMBERS;

/**
 * Where a value starts: `offset` bytes after the zero that ends text number
 * `text` (-1: after the start of the state); a text value is text `text + 1`.
 */
interface Place {
  text: number;
  offset: number;
  isText: boolean;
}

/**
 * The texts a plain agent's state leaves out (lua/includes/agent.lua, STATE_FORMAT_PLAIN:
 * the zone is 'UTC'); the other fields it leaves out are 0, or '' for a text.
 */
const PLAIN_TEXTS: Readonly<Record<string, string>> = { zone: 'UTC' };

/** The agent's own pool: the first of its pools text ('leaf|…|root'), null for none. */
function leafOf(pools: string): string | null {
  if (pools === '') return null;
  const bar = pools.indexOf('|');
  return bar < 0 ? pools : pools.slice(0, bar);
}

/** Reads the packed states of one layout; a field it lacks reads as 0, or PLAIN_TEXTS' text. */
class LayoutReader {
  private readonly places = new Map<string, Place>();
  /** How many texts a status needs located (the ones before its last value). */
  private readonly textsNeeded: number;
  readonly number: Record<StatusNumber, Place | undefined>;
  readonly role: Place | undefined;
  readonly status: Place | undefined;
  readonly sid: Place | undefined;
  readonly zone: Place | undefined;
  /** The agent's pools, leaf first, joined by '|' ('' none): lua/includes/pools.lua. */
  readonly pools: Place | undefined;

  constructor(readonly layout: StateLayout) {
    let text = -1;
    let offset = 1;
    layout.names.forEach((name, k) => {
      const isText = layout.types[k] !== 'd';
      this.places.set(name, { text, offset, isText });
      if (!isText) {
        offset += 8;
      } else {
        text++;
        offset = 1;
      }
    });
    this.number = {} as Record<StatusNumber, Place | undefined>;
    for (const [key, field] of Object.entries(STATUS_NUMBERS)) {
      this.number[key as StatusNumber] = this.places.get(field);
    }
    this.role = this.places.get('role');
    this.status = this.places.get('status');
    this.sid = this.places.get('sid');
    this.zone = this.places.get('zone');
    this.pools = this.places.get('pools');
    const needed = [
      ...Object.values(this.number),
      this.role,
      this.status,
      this.sid,
      this.zone,
      this.pools,
    ];
    this.textsNeeded = Math.max(
      ...needed.map((p) => (p === undefined ? 0 : p.text + (p.isText ? 2 : 1))),
    );
  }

  place(name: string): Place | undefined {
    return this.places.get(name);
  }

  /** The ends (index of the zero) of the first `n` texts (all: the layout's). */
  textEnds(buf: Buffer, n = this.textsNeeded): number[] {
    const ends: number[] = [];
    let from = 1;
    for (let k = 0; k < this.layout.types.length && ends.length < n; k++) {
      if (this.layout.types[k] === 'd') {
        from += 8;
        continue;
      }
      const end = buf.indexOf(0, from);
      if (end < 0) throw new PackedStateError('packed agent state: a text without its end');
      ends.push(end);
      from = end + 1;
    }
    return ends;
  }

  text(buf: Buffer, ends: number[], p: Place | undefined, name = ''): string {
    if (p === undefined) return PLAIN_TEXTS[name] ?? '';
    const start = (p.text < 0 ? 0 : (ends[p.text] as number)) + p.offset;
    return buf.toString('utf8', start, ends[p.text + 1]);
  }

  double(buf: Buffer, ends: number[], p: Place | undefined): number {
    if (p === undefined) return 0;
    const at = (p.text < 0 ? 0 : (ends[p.text] as number)) + p.offset;
    if (at + 8 > buf.length) throw new PackedStateError('packed agent state: too short');
    return buf.readDoubleLE(at);
  }

  /** The byte after the value at `p`. */
  end(ends: number[], p: Place): number {
    return p.isText
      ? (ends[p.text + 1] as number) + 1
      : (p.text < 0 ? 0 : (ends[p.text] as number)) + p.offset + 8;
  }
}

/**
 * Reads packed states: the budget status, or every field by name, of the
 * layout of lua/includes/agent.lua and of its plain agent's shorter one.
 */
export class StateReader {
  private readonly full: LayoutReader;
  private readonly plain: LayoutReader | undefined;

  constructor(readonly layout: StateLayout = readStateLayout()) {
    this.full = new LayoutReader(layout);
    this.plain = layout.plain && new LayoutReader(layout.plain);
    const check = (r: LayoutReader) => {
      for (const p of [r.role, r.status, r.sid, ...Object.values(r.number)]) {
        if (p === undefined)
          throw new PackedStateError('packed agent state: a status field missing');
      }
    };
    check(this.full);
    if (this.full.zone === undefined)
      throw new PackedStateError('packed agent state: no field zone');
  }

  private readerOf(buf: Buffer): LayoutReader {
    if (buf[0] === this.layout.version) return this.full;
    if (this.plain !== undefined && buf[0] === this.plain.layout.version) return this.plain;
    throw new PackedStateError(
      `packed agent state: version ${buf[0]}, expected ${this.layout.version}${this.plain ? ` or ${this.plain.layout.version}` : ''}`,
    );
  }

  /**
   * The budget status in a packed state at `nowMs`. Its copies of the day's
   * and month's spend and overrun are of the local day and month at `nowMs` in
   * every reply (stateReply makes it so).
   */
  statusOf(agentId: string, buf: Buffer, nowMs: number): EngineStatus {
    const r = this.readerOf(buf);
    const e = r.textEnds(buf);
    const n = r.number;
    // The key order of MemoryEngine's status (one object shape for both engines).
    return {
      agentId,
      role: r.text(buf, e, r.role),
      status: r.text(buf, e, r.status) as AgentStatus,
      sessionId: r.text(buf, e, r.sid),
      sessionStartedMs: r.double(buf, e, n.sessionStartedMs),
      sessionTokensUsed: r.double(buf, e, n.sessionTokensUsed),
      sessionTokensReserved: r.double(buf, e, n.sessionTokensReserved),
      sessionTokenLimit: r.double(buf, e, n.sessionTokenLimit),
      sessionCostMicros: r.double(buf, e, n.sessionCostMicros),
      dailyCostMicros: r.double(buf, e, n.dailyCostMicros),
      dailyReservedMicros: r.double(buf, e, n.dailyReservedMicros),
      dailyLimitMicros: r.double(buf, e, n.dailyLimitMicros),
      operationsBlocked: r.double(buf, e, n.operationsBlocked),
      sessionOverrunTokens: r.double(buf, e, n.sessionOverrunTokens),
      dailyOverrunMicros: r.double(buf, e, n.dailyOverrunMicros),
      requestsPerMinute: r.double(buf, e, n.requestsPerMinute),
      tokensPerMinute: r.double(buf, e, n.tokensPerMinute),
      timeZone: r.text(buf, e, r.zone, 'zone') || 'UTC',
      day: r.double(buf, e, n.day),
      month: r.double(buf, e, n.month),
      monthlyCostMicros: r.double(buf, e, n.monthlyCostMicros),
      monthlyOverrunMicros: r.double(buf, e, n.monthlyOverrunMicros),
      monthlyLimitMicros: r.double(buf, e, n.monthlyLimitMicros),
      poolId: leafOf(r.text(buf, e, r.pools, 'pools')),
      nowMs,
    };
  }

  /**
   * Every field of the layout by name (texts as text, numbers as numbers; a
   * field the plain layout lacks as 0 or PLAIN_TEXTS'); throws unless it is exactly one state.
   */
  fields(buf: Buffer): Record<string, string | number> {
    const r = this.readerOf(buf);
    const ends = r.textEnds(buf, Number.POSITIVE_INFINITY);
    const out: Record<string, string | number> = {};
    let last = 1;
    this.layout.names.forEach((name, k) => {
      const p = r.place(name);
      if (this.layout.types[k] === 'd') {
        out[name] = r.double(buf, ends, p);
      } else {
        out[name] = r.text(buf, ends, p, name);
      }
      if (p !== undefined) last = Math.max(last, r.end(ends, p));
    });
    if (last !== buf.length) {
      throw new PackedStateError(`packed agent state: ${buf.length - last} bytes left over`);
    }
    return out;
  }
}
