--[[
  startSession: close the agent's current session and open a new one with a
  fresh session budget (the guide's createSession / resetSession, and
  endSession when ARGV[4] names the session to end). Open holds move into the
  new session: they stay held against it and the day, and their settles count
  for it. Safe to run twice: the new session's id is the caller's; finding it
  current (or, for an end, finding the named session ended last) answers the
  summary stored when it began, with nothing written.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox

  ARGV[1] offsetMs     integer ms added to TIME (tests only)
  ARGV[2] agentId      string
  ARGV[3] sessionId    string, the new session's id <agentId>.<nonce>
  ARGV[4] expectedSid  string ('' = whatever session is current)
  ARGV[5] eventTail    string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                       4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[6] actor        string
  ARGV[7] maxFree      integer, most expired holds freed in this call

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then `session_ended`, then `session_started` (OK, not replayed).

  Returns { OK, { endedSid, endedStartMs, endedTokens, endedCostMicros, endedBlocked,
                  endedDayCostMicros, replayed (0|1) }, state (the current session's;
                  packed: includes/agent.lua stateReply), nowMs }, { ELSEWHERE, shard }
  (includes/pools.lua P.missing), or { code }
  Codes: OK, AGENT_NOT_FOUND, ELSEWHERE, MOVING, SESSION_NOT_FOUND (ARGV[4] is neither current nor the
         session ended last), CONFLICT (ARGV[3] is a session of this agent that did not
         begin with this call: the first one, or one that ended), SHARD_NOT_READY
         (nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/records"

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local agentId, newSid, expected, tail, actor = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
freeBudget = tonumber(ARGV[7])
local now = nowMs(ARGV[1])
POOLS.key = agentKey
local a, last = loadAgent(agentKey, nil, 'e')
if not a then
  local code, shard = pools().missing(agentKey, ARGV[2])
  return { code, shard }
end

-- The summary stored when the current session began: { sid, start, tokens, cost, blocked, dayCost }.
local function lastEnded()
  local t = {}
  for x in string.gmatch(last or '', '[^\31]+') do t[#t + 1] = x end
  return t
end
local function replayed()
  local e = lastEnded()
  e[7] = 1
  return { C.OK, e, stateReply(agentKey, a, now), now }
end
-- The new session's id is current: this call ran before (its summary stored then).
if newSid == a.sid then return last and replayed() or { C.CONFLICT } end
if last and lastEnded()[1] == newSid then return { C.CONFLICT } end
if expected ~= '' and expected ~= a.sid then
  if last and lastEnded()[1] == expected then return replayed() end
  return { C.SESSION_NOT_FOUND }
end

tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
local cUsed = dayCostOf(agentKey, a, now)
local ended = { a.sid, a.s_start, a.s_used, a.s_cost, a.blocked, cUsed }
emit(now, tail, { 'type', 'session_ended', 'agent_id', agentId, 'session_id', a.sid,
  'role', a.role, 'input_tokens', '', 'output_tokens', '', 'tokens_used', a.s_used,
  'cost', a.s_cost, 'operations_blocked', a.blocked, 'session_started_at', a.s_start,
  'session_utilization', pct(a.s_used, a.s_limit), 'daily_utilization', pct(cUsed, a.d_limit),
  'actor', actor })

a.sid, a.s_start = newSid, now
a.s_used, a.s_cost, a.blocked, a.s_ovr = 0, 0, 0, 0
local state = saveAgent(agentKey, a, 'e', table.concat(ended, '\31'))
emit(now, tail, stateFields(agentKey, a,
  { 'type', 'session_started', 'agent_id', agentId, 'actor', actor }))
if POOLS.lib then POOLS.lib.flush() end
flushEvents(outbox)
ended[7] = 0
return { C.OK, ended, state, now }
