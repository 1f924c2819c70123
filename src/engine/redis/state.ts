import type { AgentStatus, EngineStatus } from '../types.js';

/**
 * Reads the agent's packed state (field `s` of the agent hash, as
 * lua/authorizeBatch-1.lua returns it): lua/includes/agent.lua STATE_FORMAT
 * `<Bsssddddddddddds`, a version byte 2, then role, status and sid as
 * zero-terminated strings, then little-endian doubles s_start, s_limit,
 * d_limit, s_used, s_res, s_cost, c_res, blocked, next_exp, c_day, c_dcost,
 * then the key digest (not read here).
 */
export const STATE_VERSION = 2;

export class PackedStateError extends Error {
  override readonly name = 'PackedStateError';
}

function zeroString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new PackedStateError('packed agent state: a text without its end');
  return [buf.toString('utf8', at, end), end + 1];
}

/**
 * The budget status in a packed state. `dailyCostMicros`: the day's spend
 * when the caller has it (else the state's copy, which the scripts keep of
 * today's when they return the state).
 */
export function statusFromState(
  agentId: string,
  buf: Buffer,
  nowMs: number,
  dailyCostMicros?: number,
): EngineStatus {
  if (buf[0] !== STATE_VERSION) {
    throw new PackedStateError(`packed agent state: version ${buf[0]}, expected ${STATE_VERSION}`);
  }
  const [role, a] = zeroString(buf, 1);
  const [status, b] = zeroString(buf, a);
  const [sessionId, o] = zeroString(buf, b);
  if (o + 88 > buf.length) throw new PackedStateError('packed agent state: too short');
  const d = (k: number) => buf.readDoubleLE(o + 8 * k);
  // The same key order as parseStatus (one object shape for every engine's status).
  return {
    agentId,
    role,
    status: status as AgentStatus,
    sessionId,
    sessionStartedMs: d(0),
    sessionTokensUsed: d(3),
    sessionTokensReserved: d(4),
    sessionTokenLimit: d(1),
    sessionCostMicros: d(5),
    dailyCostMicros: dailyCostMicros ?? d(10), // d(8): next_exp, d(9): c_day
    dailyReservedMicros: d(6),
    dailyLimitMicros: d(2),
    operationsBlocked: d(7),
    nowMs,
  };
}
