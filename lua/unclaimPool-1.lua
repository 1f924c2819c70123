--[[
  unclaimPool: on the shard of a pool id, remove its directory entry after the
  pool was deleted in a hierarchy on another shard (deletePool's second step).
  Safe to run twice; an entry naming another root is left as it is.

  KEYS[1] pool directory  tg:{s<h>}:pooldir  (h: the pool id's shard)

  ARGV[1] poolId  string
  ARGV[2] root    string, the hierarchy it was deleted from

  Returns { OK }
]]
local rcall = redis.call
--- @include "includes/codes"

local e = rcall('HGET', KEYS[1], ARGV[1])
if e and string.match(e, '^([^:]*)') == ARGV[2] then rcall('HDEL', KEYS[1], ARGV[1]) end
return { C.OK }
