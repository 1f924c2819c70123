--[[
  getStatus: one atomic read of everything in the agent's budget status. Frees
  expired holds first (bounded), so a dead worker's hold never shows as held.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[4] maxFree    integer, most expired holds freed in this call

  Outbox: one entry per call (events.lua) with a `release` event (lease_expired)
  per expired hold freed; none when no lease expired (the common case).

  Returns { OK, { createdMs, metadata }, state, nowMs } (state: the packed
  state, includes/agent.lua stateReply; it holds the key digest),
  { ELSEWHERE, shard } (includes/pools.lua P.missing), or { code }
  Codes: OK, AGENT_NOT_FOUND, ELSEWHERE, MOVING, SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/records"

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
freeBudget = tonumber(ARGV[4])
local now = nowMs(ARGV[1])
POOLS.key = agentKey
local a, created, meta = loadAgent(agentKey, nil, 'created', 'meta')
if not a then
  local code, shard = pools().missing(agentKey, ARGV[2])
  return { code, shard }
end
tidyAgent(agentKey, leasesKey, a, ARGV[2], now, ARGV[3])
if a.dirty then saveAgent(agentKey, a) end
if POOLS.lib then POOLS.lib.flush() end
flushEvents(outbox)
return { C.OK, { created, meta }, stateReply(agentKey, a, now), now }
