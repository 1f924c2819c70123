--[[
  updatePool: a pool's limits and zone (its parent never changes). A new rate
  limit keeps the whole ms of its arrival time, not the remainder (as an
  agent's, includes/rate.lua); a new zone takes effect at once (a spend stays
  with the date it was charged to). Safe to run twice: when every field
  already has its value, nothing is written and no event is emitted.

  KEYS[1] hierarchy  tg:{s<n>}:pool:<rootId>
  KEYS[2] outbox     tg:{s<n>}:outbox

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx'
  ARGV[3] actor      string
  ARGV[4] poolId     string
  ARGV[5..] pairs    field, value: d_limit, m_limit (integer µ$ a local day, month;
                     0 = none), rpm, tpm (integer per minute; 0 = none), zone (the
                     zone's offsets, src/engine/periods.ts zoneTextAt; a zone of the
                     same name changes nothing)

  Outbox: one entry (events.lua) with the `pool_updated` event (when something changed).

  Returns { OK, status… (includes/pools.lua P.reply), nowMs } or { code }
  Codes: OK, POOL_NOT_FOUND, INVALID_FIELD (an unknown field; nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"

local hier, outbox = KEYS[1], KEYS[2]
local poolId = ARGV[4]
local settable = { d_limit = true, m_limit = true, rpm = true, tpm = true, zone = true }
local FRAC = { rpm = 'r_frac', tpm = 't_frac' }
for i = 5, #ARGV, 2 do
  if not settable[ARGV[i]] or ARGV[i + 1] == nil then return { C.INVALID_FIELD } end
end
local now = nowMs(ARGV[1])
POOLS.key = hier
local p = pools().get(string.match(hier, ':pool:(.*)$'), poolId)
if not p then return { C.POOL_NOT_FOUND } end

local changed = false
for i = 5, #ARGV, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  if f == 'zone' then
    local name = string.match(v, '^[^|]*')
    if name ~= p.zone then
      changed, p.zone, p.zt, p.per = true, name, (name ~= 'UTC' and name ~= '') and v or false, nil
      if p.zt then rcall('HSET', hier, 'z:' .. poolId, v) else rcall('HDEL', hier, 'z:' .. poolId) end
    end
  elseif p[f] ~= tonumber(v) then
    changed, p[f] = true, tonumber(v)
    if FRAC[f] then p[FRAC[f]] = 0 end
  end
end
local out
if changed then
  pools().touch(p)
  if POOLS.lib then POOLS.lib.flush() end
  pools().event(now, ARGV[2], 'pool_updated', p, ARGV[3])
  flushEvents(outbox)
end
out = pools().reply(p, now)
table.insert(out, 1, C.OK)
out[#out + 1] = now
return out
