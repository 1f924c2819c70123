--[[
  claimAgent: on an agent id's home shard, claim the id for an agent that is to
  be created on another shard (an agent in a pool lives on its hierarchy's
  shard): the directory entry is written FIRST, then the agent is created there
  (lua/registerAgent-3.lua with the claim's time); a crash between the two
  leaves an entry to a missing agent, which answers not found, and the
  register sent again completes it (docs/engine.md, "Where an agent lives").
  The id is unique across shards because it is checked here. Also clears an
  entry the caller found stale (ARGV[4]) when the agent is to live at home.

  KEYS[1] agent hash  tg:{s<h>}:agent:<id>  (h: the id's home shard)
  KEYS[2] directory   tg:{s<h>}:dir
  (derived, same hash tag: the ready marker)

  ARGV[1] offsetMs  integer ms added to TIME (tests only)
  ARGV[2] agentId   string
  ARGV[3] target    integer, the shard the agent is to live on (h: at home)
  ARGV[4] replace   string, an entry the caller found stale (its agent is not on
                    the shard it names, and it is older than the takeover time):
                    replaced if it is still the entry ('' = none)

  Returns { OK, nowMs } (claimed: the entry names the target now, written at
  nowMs; for the home shard, no entry is left), { ELSEWHERE, shard, entry }
  (the agent is at home, shard h and entry '', or the entry names another
  shard: the caller looks there), or { code }.
  Codes: OK, ELSEWHERE, MOVING (the agent is being moved), SHARD_NOT_READY
  (nothing written).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/ready"

local agentKey, dir = KEYS[1], KEYS[2]
local agentId, target, replace = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = nowMs(ARGV[1])
local home = tonumber(string.match(agentKey, '{s(%d+)}'))
if rcall('EXISTS', agentKey) == 1 then return { C.ELSEWHERE, home, '' } end
local e = rcall('HGET', dir, agentId)
if e and e ~= replace then
  local kind, shard = string.match(e, '^(%a)(%d+)')
  if kind == 'm' then return { C.MOVING } end
  shard = tonumber(shard)
  if shard ~= target or target == home then return { C.ELSEWHERE, shard, e } end
end
if not shardReady(agentKey) then return { C.SHARD_NOT_READY } end
if target == home then
  if e then rcall('HDEL', dir, agentId) end
else
  rcall('HSET', dir, agentId, 'a' .. target .. ':' .. now)
end
return { C.OK, now }
