--[[
  findPool: where a pool's hierarchy is: its root, from the directory of the
  shard of the pool's own id (written by createPool-2 or claimPool-1). A read.
  RedisEngine caches the answer (a pool's root never changes).

  KEYS[1] pool directory  tg:{s<h>}:pooldir  (h: the pool id's shard)

  ARGV[1] poolId  string

  Returns { OK, rootId, claimedMs } or { code }
  Codes: OK, POOL_NOT_FOUND, SHARD_NOT_READY (no entry and no ready marker)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/ready"

local e = rcall('HGET', KEYS[1], ARGV[1])
if not e then
  return { shardReady(KEYS[1]) and C.POOL_NOT_FOUND or C.SHARD_NOT_READY }
end
local root, at = string.match(e, '^([^:]*):(%d*)$')
return { C.OK, root, tonumber(at) or 0 }
