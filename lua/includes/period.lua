--[[
  Periods in a time zone: the local day and month of an instant, and their
  bounds, from the zone's offsets as src/engine/periods.ts encodes them
  (`zone|offset0|start1:offset1|…`, integer ms; offset_i holds from start_i to
  start_i+1, offset0 before start1, the last one for ever). Node computed where
  the offset changes; the instant is Redis TIME (clock.lua), so the period is
  decided here, in the script's atomic step. The answers equal periodAt in
  src/engine/periods.ts (test/engine/periods-lua.test.ts).

  periodAt(now, text) -> { day = yyyymmdd, month = yyyymm, dayStartMs, nextDayMs,
                           monthStartMs, nextMonthMs, offsetMs }
  `text` nil, false or '' means UTC. A day runs from its first instant to the
  first later instant whose local date differs (a midnight that DST skips is
  no problem; a day lasts 23 h to 25 h); a month likewise. The table is shared
  by the calls with the same `now` and text: read it, do not change it.
  Integers only (doubles, exact below 2^53); no os.* in scripts.
]]
local P_DAY = 86400000

-- days since 1970-01-01 -> y, m, d (H. Hinnant's civil_from_days)
local function pCivil(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

-- y, m, d -> days since 1970-01-01 (H. Hinnant's days_from_civil)
local function pDays(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- The text as two arrays, starts (starts[1] = -huge) and offsets, read as far
-- as `now` needs: to the first change more than P_AHEAD after it (a month's
-- run ends before that), the rest when a later `now` asks. Once per text per call.
local P_AHEAD = 64 * P_DAY
local pZones = {}
local function pZone(text, now)
  local z = pZones[text]
  if not z then
    local off0, pos = string.match(text, '^[^|]*|(%-?%d+)()')
    z = { starts = { -math.huge }, offsets = { tonumber(off0) or 0 }, n = 1, pos = pos }
    pZones[text] = z
  end
  local starts, offsets = z.starts, z.offsets
  while z.pos and starts[z.n] <= now + P_AHEAD do
    local s, o, pos = string.match(text, '^|(%-?%d+):(%-?%d+)()', z.pos)
    if not s then
      z.pos = nil
    else
      z.n = z.n + 1
      starts[z.n], offsets[z.n], z.pos = tonumber(s), tonumber(o), pos
    end
  end
  return z
end

-- The run of instants around `now` (in segment i) whose local time is in
-- [lo, hi): its first instant and the first instant after it.
local function pRun(i, z, lo, hi)
  local starts, offsets, n = z.starts, z.offsets, z.n
  local stop
  local j = i
  while true do
    local off = offsets[j]
    local segEnd = j < n and starts[j + 1] or math.huge
    if hi - off < segEnd then
      stop = hi - off
      break
    end
    local lt = segEnd + offsets[j + 1]
    if lt < lo or lt >= hi then
      stop = segEnd
      break
    end
    j = j + 1
  end
  local start
  j = i
  while true do
    local off = offsets[j]
    local segStart = starts[j]
    if lo - off > segStart then
      start = lo - off
      break
    end
    local lt = segStart - 1 + offsets[j - 1]
    if lt < lo or lt >= hi then
      start = segStart
      break
    end
    j = j - 1
  end
  return start, stop
end

local pMemoNow, pMemoText, pMemo = nil, nil, nil
local function periodAt(now, text)
  if not text then text = '' end
  if now == pMemoNow and text == pMemoText then return pMemo end
  local z = pZone(text, now)
  local starts, n = z.starts, z.n
  local i = 1
  while i < n and starts[i + 1] <= now do i = i + 1 end
  local off = z.offsets[i]
  local d = math.floor((now + off) / P_DAY)
  local y, m, dd = pCivil(d)
  local ds, de = pRun(i, z, d * P_DAY, (d + 1) * P_DAY)
  local ny, nm = y, m + 1
  if nm > 12 then ny, nm = y + 1, 1 end
  local ms, me = pRun(i, z, pDays(y, m, 1) * P_DAY, pDays(ny, nm, 1) * P_DAY)
  pMemoNow, pMemoText = now, text
  pMemo = { day = y * 10000 + m * 100 + dd, month = y * 100 + m, dayStartMs = ds, nextDayMs = de,
            monthStartMs = ms, nextMonthMs = me, offsetMs = off }
  return pMemo
end
