--[[
  The agent hash tg:{s<n>}:agent:<id> holds everything of one incarnation of
  an agent (deleting the hash deletes its holds and idempotency records too):
    s          the state, packed with `struct` (STATE_FORMAT: version byte 4,
               role, status, sid as zero-terminated strings, then little-endian
               doubles s_start (ms), s_limit (tokens), d_limit (micro-dollars a
               day), s_used, s_res (tokens), s_cost (micro-dollars spent in this
               session), c_res (micro-dollars held, any day), blocked (denials in
               this session), next_exp (ms of the earliest open lease, 0: none),
               c_day, c_dcost, c_dovr (a copy of the day's spend and overrun:
               of day c_day, yyyymmdd; 0: no copy), s_ovr (tokens settled above
               their holds in this session), p_next (ms when the idempotency
               records are next purged), then the key digest (sha-256 hex), then
               the rate limits (includes/rate.lua): rpm, tpm (requests and tokens
               per minute, 0: none) and each one's theoretical arrival time, whole
               ms and the remainder in 1/limit ms (r_tat, r_frac, t_tat, t_frac));
               one HMGET loads it, one HSET stores it (a state of version 3, from
               before the rate limits, is read with none)
    h:<nonce>  a hold or its record (includes/records.lua)
    r:<req>    a request id: the nonce it decided, its fingerprint
    u:<usage>  a usage id: what it recorded
    e          the summary of the session ended last (a replayed end answers it)
    created, meta  creation time (ms, text) and metadata (JSON), read by the
               lifecycle scripts
  Every script answers the state as `s` is packed (stateReply below) and Node
  reads it with one decoder, src/engine/redis/state.ts, which takes the field
  names and types from STATE_FORMAT and unpackAgent here (keep its unpack one
  statement). The day's spend lives in
  <agentKey>:day:<yyyymmdd>, fields `cost` and `ovr`: that key is the record
  (the day in its name). The state keeps a copy, so that a decision need not
  read it: every script that changes the day key (chargeDay) updates the copy
  in the same call, and a copy of another day is not used (dayCostOf reads the
  key).
]]
local STATE_FORMAT = '<Bsssddddddddddddddsdddddd'
local STATE_VERSION = 4
local STATE_FORMAT_3 = '<Bsssdddddddddddddds'

local function unpackAgent(v, a)
  local version
  if string.byte(v, 1) == STATE_VERSION then
    version, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest,
      a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac = struct.unpack(STATE_FORMAT, v)
  else
    version, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest =
      struct.unpack(STATE_FORMAT_3, v)
    if version ~= 3 then error('tollgate: agent state of version ' .. version) end
    a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac = 0, 0, 0, 0, 0, 0
  end
  a.dirty = nil
  return a
end

-- The agent's state, or nil if there is no agent, and the values of the extra
-- fields named (one HMGET). `into`: a table to fill instead of a new one (a
-- batch reuses one table for all its decisions).
local function loadAgent(key, into, f1, f2)
  local v
  if f2 then
    v = rcall('HMGET', key, 's', f1, f2)
  elseif f1 then
    v = rcall('HMGET', key, 's', f1)
  else
    v = { rcall('HGET', key, 's') }
  end
  if not v[1] then return nil end
  return unpackAgent(v[1], into or {}), v[2], v[3]
end

-- The state as its packed text (not stored).
local function packAgent(a)
  if a.s_res < 0 then a.s_res = 0 end
  if a.c_res < 0 then a.c_res = 0 end
  return struct.pack(STATE_FORMAT, STATE_VERSION, a.role, a.status, a.sid, a.s_start, a.s_limit,
    a.d_limit, a.s_used, a.s_res, a.s_cost, a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost,
    a.c_dovr, a.s_ovr, a.p_next, a.digest, a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac)
end

-- Stores the whole state `s` (plus any extra field/value pairs given); returns
-- the packed state.
local function saveAgent(key, a, ...)
  local v = packAgent(a)
  rcall('HSET', key, 's', v, ...)
  a.dirty = nil
  return v
end

-- A new agent's state (register, restore): all counters given; rpm, tpm: its rate
-- limits (0: none), with nothing spent of them.
local function newAgent(role, status, sid, s_start, s_limit, d_limit, s_used, s_cost, blocked, digest,
                        s_ovr, p_next, rpm, tpm)
  return { role = role, status = status, sid = sid, s_start = s_start, s_limit = s_limit,
    d_limit = d_limit, s_used = s_used, s_res = 0, s_cost = s_cost, c_res = 0, blocked = blocked,
    next_exp = 0, digest = digest, c_day = 0, c_dcost = 0, c_dovr = 0, s_ovr = s_ovr,
    p_next = p_next, rpm = rpm, tpm = tpm, r_tat = 0, r_frac = 0, t_tat = 0, t_frac = 0 }
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
-- taken, saved with the state if the caller saves it). The copy of the day's
-- overrun (a.c_dovr) is current after this call.
local function dayCostOf(agentKey, a, now)
  local suffix = daySuffix(now)
  if a.c_day == dayNumber then return a.c_dcost end
  local x = rcall('HMGET', agentKey .. suffix, 'cost', 'ovr')
  local cost = tonumber(x[1]) or 0
  a.c_day, a.c_dcost, a.c_dovr = dayNumber, cost, tonumber(x[2]) or 0
  return cost
end

-- Adds micro-dollars (and the overrun among them) to the day of `now`; a new
-- day key expires a day after its midnight (clean-up only: the day is in the
-- key's name). Updates the state's copy: the caller saves `a` in the same call
-- (saveAgent after this). Returns the day's new total.
local function chargeDay(agentKey, a, now, offsetMs, cost, ovr)
  if cost <= 0 then return dayCostOf(agentKey, a, now) end
  dayCostOf(agentKey, a, now)
  local dk = agentKey .. daySuffix(now)
  local total = tonumber(rcall('HINCRBY', dk, 'cost', cost))
  if total == cost then
    rcall('EXPIREAT', dk, math.floor((nextMidnight(now) - tonumber(offsetMs)) / 1000) + 86400)
  end
  if ovr > 0 then a.c_dovr = tonumber(rcall('HINCRBY', dk, 'ovr', ovr)) end
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

-- The state as a script answers it (src/engine/redis/state.ts): packed as `s`
-- is, with its copy of the day's spend made today's (dayCostOf), which the
-- stored state may not hold yet. Scripts answer it beside nowMs.
local function stateReply(agentKey, a, now)
  dayCostOf(agentKey, a, now)
  return packAgent(a)
end
