--[[
  restoreDirectory: put back directory entries of a shard being recovered
  (docs/engine.md, "Where an agent lives"; docs/recovery.md): the agents whose
  home shard this is and that live on another one (in a pool whose hierarchy
  is there), and the roots of the pools whose id's shard this is. Each entry
  is written as the claim scripts write it, with Redis TIME, and only if the
  id has no entry yet (one there is newer than the store). Writes only while
  the shard is not yet ready. Emits no event.

  KEYS[1] directory       tg:{s<n>}:dir
  KEYS[2] pool directory  tg:{s<n>}:pooldir
  (derived, same hash tag: the ready marker)

  ARGV[1] offsetMs  integer ms added to TIME (tests only)
  ARGV[2] n         integer, the number of agent entries; then n pairs
                    agentId, shard (where it lives); then pairs poolId, rootId

  Returns { code }
  Codes: OK (written), SHARD_READY (the shard is ready already; nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/ready"

local dir, pooldir = KEYS[1], KEYS[2]
if shardReady(dir) then return { C.SHARD_READY } end
local now = nowMs(ARGV[1])
local n = tonumber(ARGV[2])
local last = 2 + n * 2
for i = 3, last, 2 do
  rcall('HSETNX', dir, ARGV[i], 'a' .. ARGV[i + 1] .. ':' .. now)
end
for i = last + 1, #ARGV, 2 do
  rcall('HSETNX', pooldir, ARGV[i], ARGV[i + 1] .. ':' .. now)
end
return { C.OK }
