--[[
  startSession: close the agent's current session and open a new one with a
  fresh session budget (the guide's createSession / resetSession, and
  endSession when ARGV[4] names the session to end). Holds made in the old
  session stay held against the day; their tokens no longer count.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox

  ARGV[1] offsetMs     integer ms added to TIME (tests only)
  ARGV[2] agentId      string
  ARGV[3] nonce        string, the new session id is <agentId>.<nonce>
  ARGV[4] expectedSid  string ('' = whatever session is current)
  ARGV[5] eventTail    string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                       4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[6] actor        string
  ARGV[7] maxFree      integer, most expired leases freed in this call

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then `session_ended`, then `session_started`.

  Returns { code, { endedSid, endedStartMs, endedTokens, endedCostMicros, endedBlocked,
                    endedDayCostMicros }, statusTuple (the new session) }
  Codes: 0 started, 1 AGENT_NOT_FOUND, 12 SESSION_NOT_FOUND (ARGV[4] is not current),
         14 SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/leases"
--- @include "includes/ready"

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local agentId, tail, actor = ARGV[2], ARGV[5], ARGV[6]
local now = nowMs(ARGV[1])
local a = loadAgent(agentKey)
if not a then return { shardReady(agentKey) and 1 or 14, {}, {} } end
if ARGV[4] ~= '' and ARGV[4] ~= a.sid then return { 12, {}, {} } end

freeExpired(agentKey, leasesKey, a, agentId, now, tonumber(ARGV[7]), tail)
local cUsed = dayCostOf(agentKey, a, now)
local ended = { a.sid, a.s_start, a.s_used, a.s_cost, a.blocked, cUsed }
emit(now, tail, { 'type', 'session_ended', 'agent_id', agentId, 'session_id', a.sid,
  'role', a.role, 'input_tokens', '', 'output_tokens', '', 'tokens_used', a.s_used,
  'cost', a.s_cost, 'operations_blocked', a.blocked, 'session_started_at', a.s_start,
  'session_utilization', pct(a.s_used, a.s_limit), 'daily_utilization', pct(cUsed, a.d_limit),
  'actor', actor })

a.sid, a.s_start = agentId .. '.' .. ARGV[3], now
a.s_used, a.s_res, a.s_cost, a.blocked = 0, 0, 0, 0
saveAgent(agentKey, a)
emit(now, tail, stateFields(agentKey, a,
  { 'type', 'session_started', 'agent_id', agentId, 'actor', actor }))
flushEvents(outbox)
return { 0, ended, statusOf(a, cUsed, now) }
