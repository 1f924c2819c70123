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
               ms and the remainder in 1/limit ms (r_tat, r_frac, t_tat, t_frac)),
               then m_limit (micro-dollars a month, 0: none), c_mon, c_mcost,
               c_movr (a copy of the month's spend and overrun: of month c_mon,
               yyyymm; 0: no copy), then zone (the IANA name of the agent's time
               zone, '' or 'UTC' for UTC), then pools (the agent's pool and the
               pools above it, leaf first, joined by '|': includes/pools.lua;
               '' in none); one HMGET loads it, one HSET stores it. A plain
               agent's state (no rate limits and their TATs all 0, no monthly
               limit, zone 'UTC', in no pool) is packed shorter, as version 6
               (STATE_FORMAT_PLAIN: the fields up to the digest, then c_mon,
               c_mcost, c_movr; the rest 0, the zone 'UTC', no pools): the
               common decision unpacks and packs nine fields fewer
               (src/engine/redis/state.ts reads both). (A state of version 3, 4
               or 5, from before the rate limits, the periods or the pools, is
               read with none: UTC, no monthly limit, no pools.)
    z          the zone's offsets as src/engine/periods.ts encodes them (zoneTextAt;
               includes/period.lua), read after `s` unless the zone is UTC
               (loadAgent); absent or '': UTC
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
  <agentKey>:day:<yyyymmdd> and the month's in <agentKey>:month:<yyyymm>,
  fields `cost` and `ovr`, the date and month LOCAL to the agent's zone
  (periodAt of includes/period.lua at Redis TIME): each key is the record (the
  period in its name). The state keeps a copy of both, so that a decision need
  not read them: every script that changes the period keys (chargeDay) updates
  the copies in the same call, and a copy of another period is not used
  (dayCostOf reads the key).
]]
local STATE_FORMAT = '<Bsssddddddddddddddsddddddddddss'
local STATE_VERSION = 7
local STATE_FORMAT_PLAIN = '<Bsssddddddddddddddsddd'
local STATE_VERSION_PLAIN = 6
local STATE_FORMAT_4 = '<Bsssddddddddddddddsdddddd'
local STATE_FORMAT_3 = '<Bsssdddddddddddddds'

local function unpackAgent(v, a)
  local version
  local b = string.byte(v, 1)
  if b == STATE_VERSION_PLAIN then
    version, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest,
      a.c_mon, a.c_mcost, a.c_movr = struct.unpack(STATE_FORMAT_PLAIN, v)
    a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac, a.m_limit, a.zone = 0, 0, 0, 0, 0, 0, 0, 'UTC'
    a.pools = ''
  elseif b == STATE_VERSION then
    version, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest,
      a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac, a.m_limit, a.c_mon, a.c_mcost, a.c_movr,
      a.zone, a.pools = struct.unpack(STATE_FORMAT, v)
  elseif b == 5 then
    local _
    _, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest,
      a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac, a.m_limit, a.c_mon, a.c_mcost, a.c_movr,
      a.zone = struct.unpack('<Bsssddddddddddddddsdddddddddds', v)
    a.pools = ''
  elseif b == 4 then
    local _
    _, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest,
      a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac = struct.unpack(STATE_FORMAT_4, v)
    a.m_limit, a.c_mon, a.c_mcost, a.c_movr, a.zone, a.pools = 0, 0, 0, 0, '', ''
  else
    version, a.role, a.status, a.sid, a.s_start, a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost,
      a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest =
      struct.unpack(STATE_FORMAT_3, v)
    if version ~= 3 then error('tollgate: agent state of version ' .. version) end
    a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac = 0, 0, 0, 0, 0, 0
    a.m_limit, a.c_mon, a.c_mcost, a.c_movr, a.zone, a.pools = 0, 0, 0, 0, '', ''
  end
  a.dirty = nil
  return a
end

-- The agent's state, or nil if there is no agent, and the values of the extra
-- fields named (one HMGET), with the zone's text a.zt: false for a zone 'UTC'
-- or '' (UTC: not read), else field `z` (one HGET more; false when absent).
-- `into`: a table to fill instead of a new one (a batch reuses one table for
-- all its decisions).
local function loadAgent(key, into, f1, f2)
  local v
  if f2 then
    v = rcall('HMGET', key, 's', f1, f2)
  elseif f1 then
    v = rcall('HMGET', key, 's', f1)
  else
    v = rcall('HMGET', key, 's')
  end
  if not v[1] then return nil end
  local a = unpackAgent(v[1], into or {})
  if a.zone == 'UTC' or a.zone == '' then
    a.zt = false
  else
    a.zt = rcall('HGET', key, 'z')
  end
  return a, v[2], v[3]
end

-- The state as its packed text (not stored): a plain agent's shorter (version 6).
local function packAgent(a)
  if a.s_res < 0 then a.s_res = 0 end
  if a.c_res < 0 then a.c_res = 0 end
  if a.rpm == 0 and a.tpm == 0 and a.m_limit == 0 and a.zone == 'UTC' and a.r_tat == 0
    and a.r_frac == 0 and a.t_tat == 0 and a.t_frac == 0 and a.pools == '' then
    return struct.pack(STATE_FORMAT_PLAIN, STATE_VERSION_PLAIN, a.role, a.status, a.sid, a.s_start,
      a.s_limit, a.d_limit, a.s_used, a.s_res, a.s_cost, a.c_res, a.blocked, a.next_exp, a.c_day,
      a.c_dcost, a.c_dovr, a.s_ovr, a.p_next, a.digest, a.c_mon, a.c_mcost, a.c_movr)
  end
  return struct.pack(STATE_FORMAT, STATE_VERSION, a.role, a.status, a.sid, a.s_start, a.s_limit,
    a.d_limit, a.s_used, a.s_res, a.s_cost, a.c_res, a.blocked, a.next_exp, a.c_day, a.c_dcost,
    a.c_dovr, a.s_ovr, a.p_next, a.digest, a.rpm, a.tpm, a.r_tat, a.r_frac, a.t_tat, a.t_frac,
    a.m_limit, a.c_mon, a.c_mcost, a.c_movr, a.zone, a.pools)
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
-- limits (0: none), with nothing spent of them; m_limit: its monthly limit (0: none);
-- zone: its time zone's name ('' or 'UTC': UTC; the offsets go in field `z`); pools: its
-- pool and those above it, leaf first ('' for none; includes/pools.lua).
local function newAgent(role, status, sid, s_start, s_limit, d_limit, s_used, s_cost, blocked, digest,
                        s_ovr, p_next, rpm, tpm, m_limit, zone, pools)
  return { role = role, status = status, sid = sid, s_start = s_start, s_limit = s_limit,
    d_limit = d_limit, s_used = s_used, s_res = 0, s_cost = s_cost, c_res = 0, blocked = blocked,
    next_exp = 0, digest = digest, c_day = 0, c_dcost = 0, c_dovr = 0, s_ovr = s_ovr,
    p_next = p_next, rpm = rpm, tpm = tpm, r_tat = 0, r_frac = 0, t_tat = 0, t_frac = 0,
    m_limit = m_limit, c_mon = 0, c_mcost = 0, c_movr = 0, zone = zone, pools = pools or '' }
end

-- The agent's period at `now` (periodAt of includes/period.lua with its zone's
-- text a.zt), and the ':day:<yyyymmdd>' and ':month:<yyyymm>' key suffixes of
-- it, made once per call and period (number-to-text costs); the last answer is
-- kept, so the decisions of a call in one zone find it without periodAt.
local periodTexts = {}
local apText, apNow, apP, apDs, apMs = nil, nil, nil, nil, nil
local function agentPeriod(a, now)
  local zt = a.zt or ''
  if zt == apText and now == apNow then return apP, apDs, apMs end
  local p = periodAt(now, zt)
  local t = periodTexts[p.day]
  if not t then
    t = { string.format(':day:%d', p.day), string.format(':month:%d', p.month) }
    periodTexts[p.day] = t
  end
  apText, apNow, apP, apDs, apMs = zt, now, p, t[1], t[2]
  return p, apDs, apMs
end

-- The day's spend so far (micro-dollars) for the agent `a` (its state, loaded),
-- the day and month local to its zone: the state's copies when they are of this
-- period, else the day and month keys (and the copies are taken, saved with the
-- state if the caller saves it). The copies (a.c_dcost, a.c_dovr, a.c_mcost,
-- a.c_movr) are current after this call. Also answers the period.
local function dayCostOf(agentKey, a, now)
  local p, ds, ms = agentPeriod(a, now)
  if a.c_day ~= p.day then
    local x = rcall('HMGET', agentKey .. ds, 'cost', 'ovr')
    a.c_day, a.c_dcost, a.c_dovr = p.day, tonumber(x[1]) or 0, tonumber(x[2]) or 0
  end
  if a.c_mon ~= p.month then
    local x = rcall('HMGET', agentKey .. ms, 'cost', 'ovr')
    a.c_mon, a.c_mcost, a.c_movr = p.month, tonumber(x[1]) or 0, tonumber(x[2]) or 0
  end
  return a.c_dcost, p
end

-- Adds micro-dollars (and the overrun among them) to the day and the month of
-- `now` (local to the agent's zone); a new day key expires a day after the
-- day's end, a new month key a day after the month's end (clean-up only: the
-- period is in the key's name). The new totals are the copies plus the charge
-- (a copy of the period is its key's value: dayCostOf read it, every write goes
-- through here), written with one HSET per key. Updates the copies: the caller
-- saves `a` in the same call (saveAgent after this). Returns the day's new total.
local function chargeDay(agentKey, a, now, offsetMs, cost, ovr)
  local _, p = dayCostOf(agentKey, a, now)
  if cost <= 0 then return a.c_dcost end
  local _, ds, ms = agentPeriod(a, now)
  local dk, mk = agentKey .. ds, agentKey .. ms
  local dNew, mNew = a.c_dcost == 0, a.c_mcost == 0
  local total, mtotal = a.c_dcost + cost, a.c_mcost + cost
  if ovr > 0 then
    a.c_dovr, a.c_movr = a.c_dovr + ovr, a.c_movr + ovr
    rcall('HSET', dk, 'cost', string.format('%d', total), 'ovr', string.format('%d', a.c_dovr))
    rcall('HSET', mk, 'cost', string.format('%d', mtotal), 'ovr', string.format('%d', a.c_movr))
  else
    rcall('HSET', dk, 'cost', string.format('%d', total))
    rcall('HSET', mk, 'cost', string.format('%d', mtotal))
  end
  local off = tonumber(offsetMs)
  if dNew then rcall('EXPIREAT', dk, math.floor((p.nextDayMs - off) / 1000) + 86400) end
  if mNew then rcall('EXPIREAT', mk, math.floor((p.nextMonthMs - off) / 1000) + 86400) end
  a.c_dcost, a.c_mcost = total, mtotal
  return total
end

-- The agent's state as event fields, for the events that change an agent (the
-- zone by its name: a restore recomputes its offsets from it; its pool when it
-- is in one).
local function stateFields(key, a, fields)
  local x = rcall('HMGET', key, 'created', 'meta')
  local t = { 'role', a.role, 'status', a.status, 'session_id', a.sid,
    'session_started_at', a.s_start, 'session_token_limit', a.s_limit,
    'daily_cost_limit', a.d_limit, 'key_digest', a.digest, 'created_at', x[1] or '',
    'metadata', x[2] or '', 'requests_per_minute', a.rpm, 'tokens_per_minute', a.tpm,
    'monthly_cost_limit', a.m_limit, 'time_zone', a.zone == '' and 'UTC' or a.zone }
  if a.pools ~= '' then
    t[#t + 1] = 'pool_id'
    t[#t + 1] = string.match(a.pools, '^[^|]*')
  end
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
