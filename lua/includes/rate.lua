--[[
  Rate limits: GCRA (the generic cell rate algorithm), one theoretical arrival
  time (TAT) per limit, in integer ms (docs/limits.md). A limit of `limit` per
  minute spaces its units 60000/limit ms apart and lets a burst of `limit`
  pass: `cost` more fits while the TAT it would move to is at most 60 s after
  now. The TAT is kept exact as whole ms `tat` and a remainder `frac` in
  1/limit ms (0 <= frac < limit), so no rounding builds up; a TAT in the past
  counts as now. Every value stays below 2^53 (cost * 60000 with cost at most
  10,000,000 tokens), so Lua's doubles are exact.
  One function per check, taking the limit's fields and answering the new
  ones, so that another level (a pool) can keep its own.
  Needs: codes.lua (C).
]]
local RATE_WINDOW_MS = 60000

-- The TAT moved by `cost` units (negative: given back) at `now`; never before now.
local function rateMove(tat, frac, limit, cost, now)
  if tat < now then
    if cost <= 0 then return tat, frac end
    tat, frac = now, 0
  end
  local total = frac + cost * RATE_WINDOW_MS
  local whole = math.floor(total / limit)
  tat, frac = tat + whole, total - whole * limit
  if tat < now then return now, 0 end
  return tat, frac
end

-- Whether `cost` more fits the limit at `now`: true and the new tat, frac; or false
-- and the ms until it would (a cost above the limit never does).
local function rateCheck(tat, frac, limit, cost, now)
  local t, f = rateMove(tat, frac, limit, cost, now)
  local over = t - now - RATE_WINDOW_MS
  if over < 0 or (over == 0 and f == 0) then return true, t, f end
  return false, over + (f > 0 and 1 or 0)
end

-- The agent's limits for one request of `tokens` (state `a`, includes/agent.lua),
-- all or nothing: nil and the new r_tat, r_frac, t_tat, t_frac (the caller stores
-- them once it holds), or the denial's code (RATE_REQUESTS first) and the ms until
-- every limit denying it would allow it. Changes nothing.
local function agentRate(a, tokens, now)
  local rOk, rT, rF, tOk, tT, tF = true, a.r_tat, a.r_frac, true, a.t_tat, a.t_frac
  if a.rpm > 0 then rOk, rT, rF = rateCheck(rT, rF, a.rpm, 1, now) end
  if a.tpm > 0 then tOk, tT, tF = rateCheck(tT, tF, a.tpm, tokens, now) end
  if rOk and tOk then return nil, rT, rF, tT, tF end
  if rOk then return C.RATE_TOKENS, tT end
  return C.RATE_REQUESTS, tOk and rT or math.max(rT, tT)
end

-- A closed hold's correction of the agent's tokens per minute: `delta` tokens
-- (used - held after a settle, -held after a release), never before now.
local function agentRateCorrect(a, delta, now)
  if a.tpm > 0 and delta ~= 0 then
    a.t_tat, a.t_frac = rateMove(a.t_tat, a.t_frac, a.tpm, delta, now)
  end
end
