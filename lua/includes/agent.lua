--[[
  The agent hash: field `s` holds everything a decision reads about the agent
  and its current session, packed with `struct` (STATE_FORMAT: a version byte
  2, then little-endian doubles and zero-terminated strings; one HGET loads
  it, one HSET stores it; numbers stay binary, never formatted as text, and
  packing makes one Lua string, not one per value as cmsgpack.pack does):
    role, status (active|suspended), sid, s_start (ms), s_limit (tokens),
    d_limit (micro-dollars/day), s_used, s_res (tokens), s_cost (micro-dollars
    spent in this session), c_res (micro-dollars held, any day), blocked
    (denials in this session), next_exp (ms of the earliest open lease, 0: none),
    c_day, c_dcost (a copy of the day's spend: c_dcost is the `cost` of day
    c_day, yyyymmdd; 0, 0: no copy), digest (sha-256 hex of the agent's key)
  (src/engine/redis/state.ts reads it in Node.)
  Fields `created` (ms, text) and `meta` (JSON text) are read only by the
  lifecycle scripts. The day's spend lives in <agentKey>:day:<yyyymmdd>, field
  `cost`: that key is the record (the day in its name, DESIGN rule 4). The
  state keeps a copy, so that a decision need not read it: every script that
  changes the day key (chargeDay) updates the copy and saves the state in the
  same call, and a copy of another day is not used (dayCostOf reads the key).
]]
local STATE_FORMAT = '<Bsssddddddddddds'

-- The agent's state, or nil if there is no agent. `into`: a table to fill
-- instead of a new one (a batch reuses one table for all its decisions).
local function loadAgent(key, into)
  local v = rcall('HGET', key, 's')
  if not v then return nil end
  local a = into or {}
  if string.byte(v, 1) == 2 then
    local _
    _, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.digest = struct.unpack(STATE_FORMAT, v)
  else
    -- The earlier format (cmsgpack), still read: rewritten as version 2 by the next save.
    a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost, a.c_res,
      a.blocked, a.next_exp, a.digest = cmsgpack.unpack(v)
    a.c_day, a.c_dcost = 0, 0
  end
  a.dirty, a.raw = nil, v
  return a
end

-- Stores the whole state `s` (plus any extra field/value pairs given); returns
-- the packed state.
local function saveAgent(key, a, ...)
  if a.s_res < 0 then a.s_res = 0 end
  if a.c_res < 0 then a.c_res = 0 end
  local v = struct.pack(STATE_FORMAT, 2, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit,
    a.s_used, a.s_res, a.s_cost, a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.digest)
  rcall('HSET', key, 's', v, ...)
  return v
end

-- A new agent's state (register, restore): all counters given.
local function newAgent(role, status, sid, s_start, s_limit, d_limit, s_used, s_cost, blocked, digest)
  return { role = role, status = status, sid = sid, s_start = s_start, s_limit = s_limit,
    d_limit = d_limit, s_used = s_used, s_res = 0, s_cost = s_cost, c_res = 0, blocked = blocked,
    next_exp = 0, digest = digest, c_day = 0, c_dcost = 0 }
end

-- ':day:<yyyymmdd>' of `now` and its day number, worked out once per script call
-- (number-to-text costs).
local daySuffixMs, daySuffixText, dayNumber = nil, nil, nil
local function daySuffix(now)
  if now ~= daySuffixMs then
    dayNumber = dayOf(now)
    daySuffixMs, daySuffixText = now, ':day:' .. dayNumber
  end
  return daySuffixText
end

-- The day's spend so far (micro-dollars) for the agent `a` (its state, loaded):
-- the state's copy when it is of this day, else the day key (and the copy is
-- taken, saved with the state if the caller saves it).
local function dayCostOf(agentKey, a, now)
  local suffix = daySuffix(now)
  if a.c_day == dayNumber then return a.c_dcost end
  local cost = tonumber(rcall('HGET', agentKey .. suffix, 'cost')) or 0
  a.c_day, a.c_dcost = dayNumber, cost
  return cost
end

-- Adds micro-dollars to the day of `now`; a new day key expires a day after
-- its midnight (clean-up only: the day is in the key's name). Updates the
-- state's copy: the caller saves `a` in the same call (saveAgent after this).
-- Returns the day's new total.
local function chargeDay(agentKey, a, now, offsetMs, cost)
  if cost <= 0 then return dayCostOf(agentKey, a, now) end
  local dk = agentKey .. daySuffix(now)
  local total = tonumber(rcall('HINCRBY', dk, 'cost', cost))
  if total == cost then
    rcall('EXPIREAT', dk, math.floor((nextMidnight(now) - tonumber(offsetMs)) / 1000) + 86400)
  end
  a.c_day, a.c_dcost = dayNumber, total
  return total
end

-- The agent's state as event fields, for the events that change an agent.
local function stateFields(key, a, fields)
  local x = rcall('HMGET', key, 'created', 'meta')
  local t = { 'role', a.role, 'status', a.status, 'session_id', a.sid,
    'session_started_at', a.s_start, 'session_token_limit', a.s_limit,
    'daily_cost_limit', a.d_limit, 'key_digest', a.digest, 'created_at', x[1] or '',
    'metadata', x[2] or '' }
  for i = 1, #fields do t[#t + 1] = fields[i] end
  return t
end

-- The status tuple every agent script returns (see src/engine/redis/replies.ts).
local function statusOf(a, cUsed, now)
  return { a.role, a.status, a.sid, a.s_start, a.s_used, a.s_res, a.s_limit, a.s_cost,
    cUsed, a.c_res, a.d_limit, a.blocked, now }
end
