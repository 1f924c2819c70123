import { Code, failure } from '../codes.js';
import type { EndedSession, SessionChange, SessionInput } from '../types.js';
import { checkSession } from '../validate.js';
import { sessionEndedEvent, stateEvent } from './events.js';
import { statusNow } from './getStatus.js';
import { freeExpired } from './leases.js';
import { dayCost } from './records.js';
import { type MemoryState, saveCounters } from './state.js';

/**
 * startSession-3.lua: close the current session and open a new one with a
 * fresh session budget. Open holds move into the new session (their tokens
 * stay reserved). The ended session's summary is kept with the agent: a
 * second run (its new session id is current, or the session to end is the
 * one ended last) answers it again, writing nothing.
 */
export function startSession(st: MemoryState, i: SessionInput): SessionChange {
  checkSession(i);
  st.tick();
  const now = st.now;
  const agentId = i.agentId;
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  const subject = {
    op: 'startSession' as const,
    agentId,
    sessionId: i.sessionId,
    endSessionId: i.endSessionId,
  };
  if (!sc || !a) throw failure(Code.AGENT_NOT_FOUND, subject);
  const last = a.ended;
  const toEnd = i.endSessionId ?? ''; // '': whatever session is current
  if (last !== null) {
    const replay =
      (i.sessionId !== undefined && i.sessionId === a.sid) ||
      (toEnd !== '' && toEnd !== a.sid && toEnd === last.sessionId);
    if (replay) return { ended: { ...last }, status: statusNow(st, sc, a), replayed: true };
  }
  if (toEnd !== '' && toEnd !== a.sid) throw failure(Code.SESSION_NOT_FOUND, subject);
  // A new session's id names one session only: not the current one (begun
  // without a summary kept: registered or restored), not the one ended last.
  if (i.sessionId !== undefined && (i.sessionId === a.sid || i.sessionId === last?.sessionId)) {
    throw failure(Code.CONFLICT, subject);
  }

  const tail = st.rnd.eventTailBits();
  const n = freeExpired(st, sc, a, tail, 0);
  const cUsed = dayCost(st, sc);
  const ended: EndedSession = {
    sessionId: a.sid,
    startedMs: a.sStart,
    tokensUsed: a.sUsed,
    costMicros: a.sCost,
    operationsBlocked: a.blocked,
    dailyCostMicros: cUsed,
  };
  sessionEndedEvent(st, sc.shard, tail, n, agentId, a, cUsed, i.actor);

  a.sid = i.sessionId ?? `${agentId}.${st.rnd.nonce()}`;
  a.sStart = now;
  a.sUsed = 0;
  a.sCost = 0;
  a.sOver = 0;
  a.blocked = 0;
  a.ended = ended;
  saveCounters(a);
  stateEvent(st, sc.shard, tail, n + 1, 'session_started', agentId, a, i.actor);
  return { ended: { ...ended }, status: statusNow(st, sc, a), replayed: false };
}
