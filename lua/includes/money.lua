--[[
  Money is integer micro-dollars. Rates are integer micro-dollars per million
  tokens. costMicros rounds up (a hold never under-reserves, a charge never
  rounds to free) and stays exact: tokens <= 1e7 and rates <= 5e8 keep every
  product below 2^53.
]]
local function costMicros(inTokens, inRate, outTokens, outRate)
  local x = inTokens * inRate + outTokens * outRate
  local r = x % 1000000
  return (x - r) / 1000000 + (r > 0 and 1 or 0)
end

-- Utilization as text with two decimals, truncated (the same digits as src/engine/money.ts).
-- Each text is formatted once per script call (a batch's decisions repeat them).
local pctTexts = {}
local function pct(used, limit)
  if limit <= 0 then return used > 0 and '100.00' or '0.00' end
  local bp = math.floor(used * 10000 / limit)
  local t = pctTexts[bp]
  if not t then
    t = string.format('%d.%02d', math.floor(bp / 100), bp % 100)
    pctTexts[bp] = t
  end
  return t
end
