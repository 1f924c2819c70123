import type { AgentStatus, EngineStatus } from '../types.js';
import { loadScript } from './lua.js';

/**
 * The agent's packed state (field `s` of the agent hash), which every script
 * answers (lua/includes/agent.lua stateReply): `struct`-packed by
 * STATE_FORMAT, a version byte, then each field as a zero-terminated string
 * (`s`) or a little-endian double (`d`). The names and types are read from
 * lua/includes/agent.lua (STATE_FORMAT and the one `struct.unpack` in
 * unpackAgent): that file is the one definition, this is its one decoder.
 */
export interface StateLayout {
  readonly version: number;
  /** The fields after the version byte, in order. */
  readonly names: readonly string[];
  /** One letter per field: `s` text, `d` double. */
  readonly types: string;
}

export class PackedStateError extends Error {
  override readonly name = 'PackedStateError';
}

/** The layout as lua/includes/agent.lua (or the text given) defines it. */
export function readStateLayout(lua = loadScript('includes/agent')): StateLayout {
  const format = /local STATE_FORMAT = '<B([sd]+)'/.exec(lua)?.[1];
  const version = /local STATE_VERSION = (\d+)/.exec(lua)?.[1];
  const list = /version\s*,([\s\S]*?)=\s*struct\.unpack\(STATE_FORMAT/.exec(lua)?.[1];
  const names = (list ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^a\./, ''))
    .filter((s) => s !== '');
  if (format === undefined || version === undefined || names.length !== format.length) {
    throw new PackedStateError('lua/includes/agent.lua: no readable STATE_FORMAT and unpackAgent');
  }
  return Object.freeze({ version: Number(version), names: Object.freeze(names), types: format });
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

/** Reads packed states of one layout: the budget status, or every field by name. */
export class StateReader {
  private readonly places = new Map<string, Place>();
  /** How many texts a status needs located (the ones before its last value). */
  private readonly textsNeeded: number;
  private readonly size: number;
  private readonly number: Record<StatusNumber, Place>;
  private readonly role: Place;
  private readonly status: Place;
  private readonly sid: Place;
  private readonly zone: Place;

  constructor(readonly layout: StateLayout = readStateLayout()) {
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
    const at = (name: string): Place => {
      const p = this.places.get(name);
      if (p === undefined) throw new PackedStateError(`packed agent state: no field ${name}`);
      return p;
    };
    this.number = {} as Record<StatusNumber, Place>;
    for (const [key, field] of Object.entries(STATUS_NUMBERS)) {
      this.number[key as StatusNumber] = at(field);
    }
    this.role = at('role');
    this.status = at('status');
    this.sid = at('sid');
    this.zone = at('zone');
    const needed = [...Object.values(this.number), this.role, this.status, this.sid, this.zone];
    this.textsNeeded = Math.max(...needed.map((p) => p.text + (p.isText ? 2 : 1)));
    this.size = layout.types.length;
  }

  /** The ends (index of the zero) of the first `n` texts. */
  private textEnds(buf: Buffer, n: number): number[] {
    if (buf[0] !== this.layout.version) {
      throw new PackedStateError(
        `packed agent state: version ${buf[0]}, expected ${this.layout.version}`,
      );
    }
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

  private text(buf: Buffer, ends: number[], p: Place): string {
    const start = (p.text < 0 ? 0 : (ends[p.text] as number)) + p.offset;
    return buf.toString('utf8', start, ends[p.text + 1]);
  }

  private double(buf: Buffer, ends: number[], p: Place): number {
    const at = (p.text < 0 ? 0 : (ends[p.text] as number)) + p.offset;
    if (at + 8 > buf.length) throw new PackedStateError('packed agent state: too short');
    return buf.readDoubleLE(at);
  }

  /**
   * The budget status in a packed state at `nowMs`. Its copies of the day's
   * and month's spend and overrun are of the local day and month at `nowMs` in
   * every reply (stateReply makes it so).
   */
  statusOf(agentId: string, buf: Buffer, nowMs: number): EngineStatus {
    const e = this.textEnds(buf, this.textsNeeded);
    const n = this.number;
    // The key order of MemoryEngine's status (one object shape for both engines).
    return {
      agentId,
      role: this.text(buf, e, this.role),
      status: this.text(buf, e, this.status) as AgentStatus,
      sessionId: this.text(buf, e, this.sid),
      sessionStartedMs: this.double(buf, e, n.sessionStartedMs),
      sessionTokensUsed: this.double(buf, e, n.sessionTokensUsed),
      sessionTokensReserved: this.double(buf, e, n.sessionTokensReserved),
      sessionTokenLimit: this.double(buf, e, n.sessionTokenLimit),
      sessionCostMicros: this.double(buf, e, n.sessionCostMicros),
      dailyCostMicros: this.double(buf, e, n.dailyCostMicros),
      dailyReservedMicros: this.double(buf, e, n.dailyReservedMicros),
      dailyLimitMicros: this.double(buf, e, n.dailyLimitMicros),
      operationsBlocked: this.double(buf, e, n.operationsBlocked),
      sessionOverrunTokens: this.double(buf, e, n.sessionOverrunTokens),
      dailyOverrunMicros: this.double(buf, e, n.dailyOverrunMicros),
      requestsPerMinute: this.double(buf, e, n.requestsPerMinute),
      tokensPerMinute: this.double(buf, e, n.tokensPerMinute),
      timeZone: this.text(buf, e, this.zone) || 'UTC',
      day: this.double(buf, e, n.day),
      month: this.double(buf, e, n.month),
      monthlyCostMicros: this.double(buf, e, n.monthlyCostMicros),
      monthlyOverrunMicros: this.double(buf, e, n.monthlyOverrunMicros),
      monthlyLimitMicros: this.double(buf, e, n.monthlyLimitMicros),
      nowMs,
    };
  }

  /** Every field by name (texts as text, numbers as numbers); throws unless it is exactly one state. */
  fields(buf: Buffer): Record<string, string | number> {
    const ends = this.textEnds(buf, this.size);
    const out: Record<string, string | number> = {};
    let last = 1;
    this.layout.names.forEach((name, k) => {
      const p = this.places.get(name) as Place;
      if (this.layout.types[k] === 'd') {
        out[name] = this.double(buf, ends, p);
        last = (p.text < 0 ? 0 : (ends[p.text] as number)) + p.offset + 8;
      } else {
        out[name] = this.text(buf, ends, p);
        last = (ends[p.text + 1] as number) + 1;
      }
    });
    if (last !== buf.length) {
      throw new PackedStateError(`packed agent state: ${buf.length - last} bytes left over`);
    }
    return out;
  }
}
