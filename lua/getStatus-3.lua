--[[
  getStatus: one atomic read of everything in the agent's budget status. Frees
  expired leases first (bounded), so a dead worker's hold never shows as held.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[4] maxFree    integer, most expired leases freed in this call

  Outbox: one entry per call (events.lua) with a `release` event (lease_expired)
  per expired hold freed; none when no lease expired (the common case).

  Returns { code, { keyDigest }, statusTuple }
  Codes: 0 found, 1 AGENT_NOT_FOUND, 14 SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/leases"
--- @include "includes/ready"

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local now = nowMs(ARGV[1])
local a = loadAgent(agentKey)
if not a then return { shardReady(agentKey) and 1 or 14, {}, {} } end
freeExpired(agentKey, leasesKey, a, ARGV[2], now, tonumber(ARGV[4]), ARGV[3])
if a.dirty then saveAgent(agentKey, a) end
flushEvents(outbox)
return { 0, { a.digest }, statusOf(a, dayCostOf(agentKey, a, now), now) }
