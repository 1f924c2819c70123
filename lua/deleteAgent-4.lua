--[[
  deleteAgent: remove an agent, its open holds and its lease index. Its key
  stops working at once. Today's spend key stays until it expires, so an agent
  deleted and registered again the same day keeps that day's spend.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] agent index    tg:{s<n>}:agents
  KEYS[3] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[4] outbox stream  tg:{s<n>}:outbox

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[4] actor      string

  Outbox: one entry (events.lua) holding the `agent_deleted` event.

  Returns { code, {}, statusTuple (the last state) }
  Codes: 0 deleted, 1 AGENT_NOT_FOUND, 14 SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/ready"

local agentKey, index, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = nowMs(ARGV[1])
local a = loadAgent(agentKey)
if not a then return { shardReady(agentKey) and 1 or 14, {}, {} } end

local fields = stateFields(agentKey, a, { 'type', 'agent_deleted', 'agent_id', ARGV[2], 'actor', ARGV[4] })
-- Open holds are fields of the agent hash; closed ones' records expire by themselves.
rcall('DEL', agentKey, leasesKey)
rcall('SREM', index, ARGV[2])
emit(now, ARGV[3], fields)
flushEvents(outbox)
return { 0, {}, statusOf(a, dayCostOf(agentKey, a, now), now) }
