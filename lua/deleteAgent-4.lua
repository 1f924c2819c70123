--[[
  deleteAgent: remove an agent with its open holds, its records and its lease
  index (one incarnation ends: a later agent with the same id starts clean).
  Its key stops working at once. Today's spend key stays until it expires, so
  an agent deleted and registered again the same day keeps that day's spend.
  Safe to run twice: the call's nonce is kept an hour in the hash <agent>:gone
  (`n` the nonce, `t` the call's time, `s` the last state, packed), and a
  second run with it answers those.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] agent index    tg:{s<n>}:agents
  KEYS[3] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[4] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: <agent>:gone)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[4] actor      string
  ARGV[5] nonce      string, this call's id

  Outbox: one entry (events.lua) holding the `agent_deleted` event (OK, not replayed).

  Returns { OK, {}, state (the last one, packed: includes/agent.lua stateReply), nowMs },
  or { code }
  Codes: OK, AGENT_NOT_FOUND, SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/ready"

local agentKey, index, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local goneKey = agentKey .. ':gone'
local now = nowMs(ARGV[1])
local a = loadAgent(agentKey)
if not a then
  local gone = rcall('HMGET', goneKey, 'n', 't', 's')
  if gone[1] == ARGV[5] then return { C.OK, {}, gone[3], tonumber(gone[2]) } end
  return { shardReady(agentKey) and C.AGENT_NOT_FOUND or C.SHARD_NOT_READY }
end

local fields = stateFields(agentKey, a, { 'type', 'agent_deleted', 'agent_id', ARGV[2], 'actor', ARGV[4] })
local state = stateReply(agentKey, a, now)
rcall('DEL', agentKey, leasesKey)
rcall('SREM', index, ARGV[2])
rcall('HSET', goneKey, 'n', ARGV[5], 't', now, 's', state)
rcall('PEXPIRE', goneKey, 3600000)
emit(now, ARGV[3], fields)
flushEvents(outbox)
return { C.OK, {}, state, now }
