--[[
  Clock: Redis TIME is the only clock. `offsetMs` (ARGV[1] of every script) is a
  test-only shift added to it; production callers always pass 0.
  nowMs(offsetMs)  -> integer ms since the epoch
  dayOf(ms)        -> yyyymmdd (UTC) as an integer, e.g. 20261124
  nextMidnight(ms) -> ms of the next 00:00:00 UTC
]]
local function nowMs(offsetMs)
  local t = rcall('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offsetMs)
end

local function dayOf(ms)
  -- days-from-civil inverse (H. Hinnant), proleptic Gregorian, UTC
  local z = math.floor(ms / 86400000) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y * 10000 + m * 100 + d
end

local function nextMidnight(ms)
  return (math.floor(ms / 86400000) + 1) * 86400000
end
