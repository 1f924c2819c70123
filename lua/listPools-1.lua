--[[
  listPools: every pool of the hierarchies of one shard with its status, in one
  read (RedisEngine calls it once per shard).

  KEYS[1] hierarchies  tg:{s<n>}:pools  (the set of the shard's root ids)
  (derived, same hash tag: each hierarchy tg:{s<n>}:pool:<rootId>)

  ARGV[1] offsetMs  integer ms added to TIME (tests only)

  Returns one flat array { nowMs, status…, status…, … }, 17 values per pool
  (includes/pools.lua P.reply).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"

local now = nowMs(ARGV[1])
POOLS.key = KEYS[1]
local out = { now }
local roots = rcall('SMEMBERS', KEYS[1])
for i = 1, #roots do
  local fields = rcall('HKEYS', pools().key(roots[i]))
  local ids = {}
  for k = 1, #fields do
    local id = string.match(fields[k], '^p:(.*)$')
    if id then ids[#ids + 1] = id end
  end
  ids.root = roots[i]
  pools().load(ids)
  for k = 1, #ids do
    local p = pools().cache[ids[k]]
    if p then
      local r = pools().reply(p, now)
      for x = 1, #r do out[#out + 1] = r[x] end
    end
  end
end
return out
