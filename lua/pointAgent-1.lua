--[[
  pointAgent: on an agent's home shard, point its directory entry at the shard
  it lives on now, after a move to another shard (the move's third step,
  src/engine/redis/ops/moveAgent.ts) or a delete (the entry removed). Safe to
  run twice: an entry that already names the new place is left as it is.

  KEYS[1] directory  tg:{s<h>}:dir  (h: the id's home shard)

  ARGV[1] offsetMs  integer ms added to TIME (tests only)
  ARGV[2] agentId   string
  ARGV[3] from      integer, the shard the entry should name now (where the agent was)
  ARGV[4] to        integer, the shard it lives on now ('' or h: no entry)

  Returns { OK } or { CONFLICT, entry } (the entry names another shard than
  `from` and `to`: someone else moved it; nothing written).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"

local dir = KEYS[1]
local agentId, from, to = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = nowMs(ARGV[1])
local home = tonumber(string.match(dir, '{s(%d+)}'))
local e = rcall('HGET', dir, agentId)
if e then
  local kind, shard = string.match(e, '^(%a)(%d+)')
  shard = tonumber(shard)
  if kind == 'a' and shard == to then return { C.OK } end
  if not (kind == 'm' or shard == from) then return { C.CONFLICT, e } end
end
if to == nil or to == home then
  if e then rcall('HDEL', dir, agentId) end
else
  rcall('HSET', dir, agentId, 'a' .. to .. ':' .. now)
end
return { C.OK }
