--[[
  thawAgent: undo a move's freeze (lua/freezeAgent-3.lua) when its copy could
  not be made (the new pool was deleted meanwhile): the frozen agent is back
  as it was, in its old pool, with its holds' pool parts (includes/left.lua),
  and the directory's moving mark is removed. Safe to run twice.

  KEYS[1] agent hash  tg:{s<n>}:agent:<id>  (the frozen hash is <agent>:frozen)
  (derived, same hash tag: the directory, its leases, the holds left here)

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
--- @include "includes/records"
--- @include "includes/left"

local agentKey, agentId = KEYS[1], ARGV[1]
local frozenKey = agentKey .. ':frozen'
local mv = rcall('HGET', frozenKey, 'mv')
if not mv then return { C.OK } end
if string.match(mv, '^[^|]*') ~= ARGV[2] then return { C.CONFLICT } end
if rcall('EXISTS', agentKey) == 1 then return { C.CONFLICT } end
rcall('HDEL', frozenKey, 'mv')
rcall('RENAME', frozenKey, agentKey)
POOLS.key = agentKey
LEFT.reclaim(agentKey, agentKey .. ':leases', agentId)
local dir = string.match(agentKey, '^(.-}:)') .. 'dir'
local e = rcall('HGET', dir, agentId)
if e and string.sub(e, 1, 1) == 'm' then rcall('HDEL', dir, agentId) end
return { C.OK }
