--[[
  Clock: Redis TIME is the only clock. `offsetMs` (ARGV[1] of every script) is a
  test-only shift added to it; production callers always pass 0.
  nowMs(offsetMs)  -> integer ms since the epoch
  (The day and month an instant falls in, in an agent's zone: includes/period.lua.)
]]
local function nowMs(offsetMs)
  local t = rcall('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offsetMs)
end
