--[[
  claimPool: on the shard of a pool id, claim the id for a pool to be created in
  a hierarchy on another shard (its root's): the directory entry is written
  FIRST, then the pool is created there (lua/createPool-2.lua with the claim's
  time). A crash between the two leaves an entry to a missing pool (not found);
  the create sent again completes it. Pool ids are unique across shards
  because they are checked here.

  KEYS[1] pool directory  tg:{s<h>}:pooldir  (h: the pool id's shard)
  (derived, same hash tag: the ready marker)

  ARGV[1] offsetMs  integer ms added to TIME (tests only)
  ARGV[2] poolId    string
  ARGV[3] root      string, the hierarchy it is to be created in
  ARGV[4] replace   string, an entry the caller found stale (its pool is not in the
                    hierarchy it names, and it is older than the takeover time):
                    replaced if it is still the entry ('' = none)

  Returns { OK, nowMs } (the entry names the root, written at nowMs),
  { ELSEWHERE, entry } (the entry names another root), or { code }.
  Codes: OK, ELSEWHERE, SHARD_NOT_READY (nothing written).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/ready"

local dir = KEYS[1]
local poolId, root, replace = ARGV[2], ARGV[3], ARGV[4]
local now = nowMs(ARGV[1])
local e = rcall('HGET', dir, poolId)
if e and e ~= replace and string.match(e, '^([^:]*)') ~= root then return { C.ELSEWHERE, e } end
if not shardReady(dir) then return { C.SHARD_NOT_READY } end
rcall('HSET', dir, poolId, root .. ':' .. now)
return { C.OK, now }
