import type { SessionChange, SessionInput } from '../types.js';
import { checkAgentId } from '../validate.js';
import { notFound, sessionNotFound } from './errors.js';
import { sessionEndedEvent, stateEvent } from './events.js';
import { freeExpired } from './leases.js';
import { dayCost } from './records.js';
import { type MemoryState, saveCounters } from './state.js';
import { statusOf } from './status.js';

/**
 * startSession-3.lua: close the current session and open a new one with a
 * fresh session budget. Holds of the old session stay held against the day;
 * their tokens no longer count.
 */
export function startSession(st: MemoryState, i: SessionInput): SessionChange {
  const agentId = i.agentId;
  checkAgentId(agentId);
  st.tick();
  const now = st.now;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw notFound(agentId);
  const expected = i.endSessionId ?? '';
  if (expected !== '' && expected !== a.sid) throw sessionNotFound(i.endSessionId);

  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  const cUsed = dayCost(st, sc);
  const ended = {
    sessionId: a.sid,
    startedMs: a.sStart,
    tokensUsed: a.sUsed,
    costMicros: a.sCost,
    operationsBlocked: a.blocked,
    dailyCostMicros: cUsed,
  };
  sessionEndedEvent(st, sc.shard, tail, n, agentId, a, cUsed, i.actor);

  a.sid = `${agentId}.${st.rnd.nonce()}`;
  a.sStart = now;
  a.sUsed = 0;
  a.sRes = 0;
  a.sCost = 0;
  a.blocked = 0;
  saveCounters(a);
  stateEvent(st, sc.shard, tail, n + 1, 'session_started', agentId, a, i.actor);
  return { ended, status: statusOf(agentId, a, cUsed, now) };
}
