--[[
  getPool: a pool's status in one atomic read: its limits, zone, what is held
  under it and the spend of its local day and month at Redis TIME.

  KEYS[1] hierarchy  tg:{s<n>}:pool:<rootId>

  ARGV[1] offsetMs  integer ms added to TIME (tests only)
  ARGV[2] poolId    string

  Returns { OK, status… (includes/pools.lua P.reply), nowMs } or { POOL_NOT_FOUND, nowMs }
  or { SHARD_NOT_READY, nowMs } (no such pool and no ready marker: the shard may have lost
  its data; docs/recovery.md)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/ready"

local now = nowMs(ARGV[1])
POOLS.key = KEYS[1]
local p = pools().get(string.match(KEYS[1], ':pool:(.*)$'), ARGV[2])
if not p then return { shardReady(KEYS[1]) and C.POOL_NOT_FOUND or C.SHARD_NOT_READY, now } end
local out = pools().reply(p, now)
table.insert(out, 1, C.OK)
out[#out + 1] = now
return out
