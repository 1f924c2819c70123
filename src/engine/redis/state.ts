import type { AgentStatus, EngineStatus } from '../types.js';

/**
 * Reads the agent's packed state (field `s` of the agent hash, as
 * lua/authorizeBatch-1.lua returns it): lua/includes/agent.lua STATE_FORMAT
 * `<Bsssdddddddddddddds`, a version byte 3, then role, status and sid as
 * zero-terminated strings, then little-endian doubles s_start, s_limit,
 * d_limit, s_used, s_res, s_cost, c_res, blocked, next_exp, c_day, c_dcost,
 * c_dovr, s_ovr, p_next, then the key digest (not read here).
 */
export const STATE_VERSION = 3;

export class PackedStateError extends Error {
  override readonly name = 'PackedStateError';
}

/** The end (index of the zero) of the text that starts at `at`. */
function textEnd(buf: Buffer, at: number): number {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new PackedStateError('packed agent state: a text without its end');
  return end;
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
  const a = textEnd(buf, 1);
  const b = textEnd(buf, a + 1);
  const c = textEnd(buf, b + 1);
  const role = buf.toString('utf8', 1, a);
  const status = buf.toString('utf8', a + 1, b);
  const sessionId = buf.toString('utf8', b + 1, c);
  const o = c + 1;
  if (o + 112 > buf.length) throw new PackedStateError('packed agent state: too short');
  // The same key order as parseStatus (one object shape for every engine's status).
  // (o + 64: next_exp, o + 72: c_day, o + 104: p_next.)
  return {
    agentId,
    role,
    status: status as AgentStatus,
    sessionId,
    sessionStartedMs: buf.readDoubleLE(o),
    sessionTokensUsed: buf.readDoubleLE(o + 24),
    sessionTokensReserved: buf.readDoubleLE(o + 32),
    sessionTokenLimit: buf.readDoubleLE(o + 8),
    sessionCostMicros: buf.readDoubleLE(o + 40),
    dailyCostMicros: dailyCostMicros ?? buf.readDoubleLE(o + 80),
    dailyReservedMicros: buf.readDoubleLE(o + 48),
    dailyLimitMicros: buf.readDoubleLE(o + 16),
    operationsBlocked: buf.readDoubleLE(o + 56),
    sessionOverrunTokens: buf.readDoubleLE(o + 96),
    dailyOverrunMicros: buf.readDoubleLE(o + 88),
    nowMs,
  };
}
