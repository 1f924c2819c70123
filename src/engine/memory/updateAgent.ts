import { Code, failure } from '../codes.js';
import { agentZone, decodeZone } from '../periods.js';
import type { AgentSnapshot, UpdateInput } from '../types.js';
import { checkUpdate } from '../validate.js';
import { stateEvent } from './events.js';
import { statusNow } from './getStatus.js';
import type { MemoryState } from './state.js';

/**
 * updateAgent-2.lua: change role, status, limits, key digest or metadata. The
 * event carries the whole new state. Expired leases are not freed here. When
 * every value is already set, nothing is written (no event): `replayed`.
 */
export function updateAgent(st: MemoryState, i: UpdateInput): AgentSnapshot {
  checkUpdate(i);
  st.tick();
  const agentId = i.agentId;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw failure(Code.AGENT_NOT_FOUND, { op: 'updateAgent', agentId });

  const s = i.set;
  const zone = s.timeZone === undefined ? undefined : agentZone(s.timeZone, st.now);
  const same =
    (s.role === undefined || s.role === a.role) &&
    (s.status === undefined || s.status === a.status) &&
    (s.sessionTokenLimit === undefined || s.sessionTokenLimit === a.sLimit) &&
    (s.dailyLimitMicros === undefined || s.dailyLimitMicros === a.dLimit) &&
    (s.requestsPerMinute === undefined || s.requestsPerMinute === a.rpm) &&
    (s.tokensPerMinute === undefined || s.tokensPerMinute === a.tpm) &&
    (s.monthlyLimitMicros === undefined || s.monthlyLimitMicros === a.mLimit) &&
    (zone === undefined || zone.name === a.zone) &&
    (s.keyDigest === undefined || s.keyDigest === a.digest) &&
    (s.metadata === undefined || s.metadata === a.meta);
  if (same) {
    return { status: statusNow(st, sc, a), createdMs: a.created, metadata: a.meta, replayed: true };
  }
  if (s.role !== undefined) a.role = s.role;
  if (s.status !== undefined) a.status = s.status;
  if (s.sessionTokenLimit !== undefined) a.sLimit = s.sessionTokenLimit;
  if (s.dailyLimitMicros !== undefined) a.dLimit = s.dailyLimitMicros;
  if (s.monthlyLimitMicros !== undefined) a.mLimit = s.monthlyLimitMicros;
  // A new zone: its offsets as written now (lua/updateAgent-2.lua).
  if (zone !== undefined) {
    a.zone = zone.name;
    a.zoneT = decodeZone(zone.text);
  }
  // A new rate limit keeps the whole ms of its TAT, not the remainder (lua/updateAgent-2.lua).
  if (s.requestsPerMinute !== undefined && s.requestsPerMinute !== a.rpm) {
    a.rpm = s.requestsPerMinute;
    a.rTat = { tat: a.rTat.tat, frac: 0 };
  }
  if (s.tokensPerMinute !== undefined && s.tokensPerMinute !== a.tpm) {
    a.tpm = s.tokensPerMinute;
    a.tTat = { tat: a.tTat.tat, frac: 0 };
  }
  if (s.keyDigest !== undefined) a.digest = s.keyDigest;
  if (s.metadata !== undefined) a.meta = s.metadata;
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, i.event, agentId, a, i.actor);
  return { status: statusNow(st, sc, a), createdMs: a.created, metadata: a.meta, replayed: false };
}
