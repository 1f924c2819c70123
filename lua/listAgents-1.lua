--[[
  listAgents: every agent of one shard with its counters and today's spend, in
  one read (the dashboard and getAllAgents call it once per shard, in parallel).

  KEYS[1] agent index  tg:{s<n>}:agents   (agent hashes are tg:{s<n>}:agent:<id>)

  ARGV[1] offsetMs  integer ms added to TIME (tests only)

  Returns { { agentId, createdMs, metadata, statusTuple }, ... }, or the integer
  14 (SHARD_NOT_READY: no ready marker; recover the shard, then list it).
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/agent"
--- @include "includes/ready"

local prefix = string.sub(KEYS[1], 1, -2) .. ':'
if not shardReady(KEYS[1]) then return 14 end
local now = nowMs(ARGV[1])
local out = {}
local ids = rcall('SMEMBERS', KEYS[1])
for i = 1, #ids do
  local key = prefix .. ids[i]
  local a = loadAgent(key)
  if a then
    local x = rcall('HMGET', key, 'created', 'meta')
    out[#out + 1] = { ids[i], tonumber(x[1]), x[2], statusOf(a, dayCostOf(key, a, now), now) }
  end
end
return out
