--[[
  The agent hash: field `s` holds everything a decision reads about the agent
  and its current session, packed with cmsgpack (one HGET loads it, one HSET
  stores it; numbers stay binary, never formatted as text):
    role, status (active|suspended), sid, s_start (ms), s_limit (tokens),
    d_limit (micro-dollars/day), s_used, s_res (tokens), s_cost (micro-dollars
    spent in this session), c_res (micro-dollars held, any day), blocked
    (denials in this session), next_exp (ms of the earliest open lease, 0: none),
    digest (sha-256 hex of the agent's key)
  Fields `created` (ms, text) and `meta` (JSON text) are read only by the
  lifecycle scripts. The day's spend lives in <agentKey>:day:<yyyymmdd>, field `cost`.
]]
local function loadAgent(key)
  local v = rcall('HGET', key, 's')
  if not v then return nil end
  local role, status, sid, s_start, s_limit, d_limit, s_used, s_res, s_cost, c_res, blocked,
    next_exp, digest = cmsgpack.unpack(v)
  return {
    role = role, status = status, sid = sid, s_start = s_start, s_limit = s_limit,
    d_limit = d_limit, s_used = s_used, s_res = s_res, s_cost = s_cost, c_res = c_res,
    blocked = blocked, next_exp = next_exp, digest = digest
  }
end

-- Stores the whole state `s` (plus any extra field/value pairs given).
local function saveAgent(key, a, ...)
  if a.s_res < 0 then a.s_res = 0 end
  if a.c_res < 0 then a.c_res = 0 end
  rcall('HSET', key, 's', cmsgpack.pack(a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit,
    a.s_used, a.s_res, a.s_cost, a.c_res, a.blocked, a.next_exp, a.digest), ...)
end

-- A new agent's state (register, restore): all counters given.
local function newAgent(role, status, sid, s_start, s_limit, d_limit, s_used, s_cost, blocked, digest)
  return { role = role, status = status, sid = sid, s_start = s_start, s_limit = s_limit,
    d_limit = d_limit, s_used = s_used, s_res = 0, s_cost = s_cost, c_res = 0, blocked = blocked,
    next_exp = 0, digest = digest }
end

-- ':day:<yyyymmdd>' of `now`, built once per script call (number-to-text costs).
local daySuffixMs, daySuffixText = nil, nil
local function daySuffix(now)
  if now ~= daySuffixMs then daySuffixMs, daySuffixText = now, ':day:' .. dayOf(now) end
  return daySuffixText
end

local function dayCost(agentKey, now)
  return tonumber(rcall('HGET', agentKey .. daySuffix(now), 'cost')) or 0
end

-- Adds micro-dollars to the day of `now`; a new day key expires a day after
-- its midnight (clean-up only: the day is in the key's name).
-- Returns the day's new total.
local function chargeDay(agentKey, now, offsetMs, cost)
  if cost <= 0 then return dayCost(agentKey, now) end
  local dk = agentKey .. daySuffix(now)
  local total = tonumber(rcall('HINCRBY', dk, 'cost', cost))
  if total == cost then
    rcall('EXPIREAT', dk, math.floor((nextMidnight(now) - tonumber(offsetMs)) / 1000) + 86400)
  end
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
