--[[
  deletePool: remove an empty pool: no agents in it and no pools beneath it
  (else POOL_NOT_EMPTY with their numbers, nothing written). Holds made under
  it that are still open stay where they are; their settles skip the pool
  that is gone. Deleting a root removes its hierarchy. Safe to run twice: the
  call's nonce is kept an hour with the pool's last status
  (<hierarchy>:gone:<poolId>), and a second run with it answers them. When
  the pool id's own shard is another one, RedisEngine then removes its
  directory entry there (lua/unclaimPool-1.lua).

  KEYS[1] hierarchy  tg:{s<n>}:pool:<rootId>
  KEYS[2] outbox     tg:{s<n>}:outbox
  (derived, same hash tag: <hierarchy>:gone:<poolId>, tg:{s<n>}:pools, tg:{s<n>}:pooldir)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx'
  ARGV[3] actor      string
  ARGV[4] poolId     string
  ARGV[5] nonce      string, this call's id

  Outbox: one entry (events.lua) with the `pool_deleted` event (OK, not a repeat).

  Returns { OK, status… (the last; includes/pools.lua P.reply), nowMs },
  { POOL_NOT_EMPTY, agents, pools }, or { code }
  Codes: OK, POOL_NOT_FOUND, POOL_NOT_EMPTY (nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"

local hier, outbox = KEYS[1], KEYS[2]
local poolId, nonce = ARGV[4], ARGV[5]
local goneKey = hier .. ':gone:' .. poolId
local now = nowMs(ARGV[1])
POOLS.key = hier
local root = string.match(hier, ':pool:(.*)$')
local p = pools().get(root, poolId)
if not p then
  local gone = rcall('HMGET', goneKey, 'n', 'r')
  if gone[1] == nonce then
    local out = { C.OK }
    for v in string.gmatch(gone[2], '([^\31]*)\31') do
      out[#out + 1] = tonumber(v) or v
    end
    return out
  end
  return { C.POOL_NOT_FOUND }
end
if p.agents > 0 or p.children > 0 then return { C.POOL_NOT_EMPTY, p.agents, p.children } end

local out = pools().reply(p, now)
table.insert(out, 1, C.OK)
out[#out + 1] = now
-- Its state, zone and alert marks (includes/alerts.lua).
rcall('HDEL', hier, 'p:' .. poolId, 'z:' .. poolId, 'ad:' .. poolId, 'am:' .. poolId)
if p.parent ~= '' then
  local parent = pools().get(root, p.parent)
  if parent then
    parent.children = parent.children - 1
    pools().touch(parent)
  end
else
  rcall('DEL', hier)
  rcall('SREM', string.match(hier, '^(.-}:)') .. 'pools', root)
end
local dir = string.match(hier, '^(.-}:)') .. 'pooldir'
local e = rcall('HGET', dir, poolId)
if e and string.match(e, '^([^:]*)') == root then rcall('HDEL', dir, poolId) end
if POOLS.lib then POOLS.lib.flush() end
local kept = {}
for i = 2, #out do kept[#kept + 1] = tostring(out[i]) .. '\31' end
rcall('HSET', goneKey, 'n', nonce, 'r', table.concat(kept))
rcall('PEXPIRE', goneKey, 3600000)
pools().event(now, ARGV[2], 'pool_deleted', p, ARGV[3])
flushEvents(outbox)
return out
