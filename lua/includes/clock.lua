--[[
  Clock: Redis TIME is the only clock. `offsetMs` (ARGV[1] of every script) is a
  test-only shift added to it; production callers always pass 0.
  nowMs(offsetMs)  -> integer ms since the epoch
  (The day and month an instant falls in, in an agent's zone: includes/period.lua.)
  Integers as text (ms times, micro-dollars, yyyymmdd: below 2^53) are written
  string.format('%d', n) where a call makes them: the text tostring gives below 1e14,
  for 2.1k Redis instructions where tostring and `..` take 4.7k (their %.14g), and a
  number given to redis.call 3k more than its text (Redis formats it %.17g).
]]
local function nowMs(offsetMs)
  local t = rcall('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offsetMs)
end
