--[[
  listAgents: every agent of one shard with its counters and today's spend, in
  one read (the dashboard and getAllAgents call it once per shard, in parallel).

  KEYS[1] agent index  tg:{s<n>}:agents
  (derived, same hash tag: each agent's hash and day key, the ready marker)

  ARGV[1] offsetMs  integer ms added to TIME (tests only)

  Returns one flat array { nowMs, agentId, createdMs, metadata, state, agentId, … }
  (4 values per agent; state: the packed state, includes/agent.lua stateReply),
  or the integer SHARD_NOT_READY (no ready marker; recover the shard, then list it).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/ready"

local prefix = string.sub(KEYS[1], 1, -2) .. ':'
if not shardReady(KEYS[1]) then return C.SHARD_NOT_READY end
local now = nowMs(ARGV[1])
local out, n = { now }, 1
local ids = rcall('SMEMBERS', KEYS[1])
for i = 1, #ids do
  local key = prefix .. ids[i]
  local a, created, meta = loadAgent(key, nil, 'created', 'meta')
  if a then
    out[n + 1], out[n + 2], out[n + 3], out[n + 4] =
      ids[i], tonumber(created), meta or '{}', stateReply(key, a, now)
    n = n + 4
  end
end
return out
