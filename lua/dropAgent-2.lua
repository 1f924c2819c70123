--[[
  dropAgent: the last step of moving an agent to another shard
  (src/engine/redis/ops/moveAgent.ts): on the old shard, remove the frozen
  agent with its leases and the keys of its day's and month's spend, take it
  out of its old pool's count and of the shard's index, and remove the
  directory's moving mark. Safe to run twice (nothing frozen: OK).

  KEYS[1] agent hash   tg:{s<n>}:agent:<id>  (n: the old shard; the frozen hash is <agent>:frozen)
  KEYS[2] agent index  tg:{s<n>}:agents
  (derived, same hash tag: its leases, day and month keys, the old pool's hierarchy,
   the directory)

  ARGV[1] agentId  string
  ARGV[2] nonce    string, the move's id

  Returns { OK } or { CONFLICT } (another move is noted: nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"

local agentKey, index = KEYS[1], KEYS[2]
local agentId, nonce = ARGV[1], ARGV[2]
local frozenKey = agentKey .. ':frozen'
POOLS.key = agentKey
local v = rcall('HMGET', frozenKey, 'mv', 's')
if not v[1] then return { C.OK } end
if string.match(v[1], '^[^|]*') ~= nonce then return { C.CONFLICT } end
local a = unpackAgent(v[2], {})
if a.pools ~= '' then
  local c = pools().chainOf(a.pools)
  local p = pools().get(c.root, c[1])
  if p then
    p.agents = p.agents - 1
    pools().touch(p)
    if POOLS.lib then POOLS.lib.flush() end
  end
end
rcall('DEL', frozenKey, agentKey .. ':leases', agentKey .. ':day:' .. a.c_day,
  agentKey .. ':month:' .. a.c_mon)
rcall('SREM', index, agentId)
local dir = string.match(agentKey, '^(.-}:)') .. 'dir'
local e = rcall('HGET', dir, agentId)
if e and string.sub(e, 1, 1) == 'm' then rcall('HDEL', dir, agentId) end
return { C.OK }
