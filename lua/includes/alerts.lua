--[[
  Budget alerts (docs/operations.md "Alerts", docs/engine.md "Alert marks"):
  when a charge moves a budget's used amount from below a threshold to at or
  above it, the threshold's mark is set where the period lives and, if it was
  not set already, one `budget_alert` event is emitted. So each threshold
  fires once per budget and period, whatever the concurrency (the check and
  the mark are in the script). Marks:
    an agent's session: agent hash field `a:<pct>` = the session id;
    an agent's day and month: field `a<pct>` of its day and month hashes;
    a pool's local day and month: field `ad:<poolId>` / `am:<poolId>` of its
      hierarchy's hash (includes/pools.lua) = '<period>|<pct>|<pct>|…|', the
      period (yyyymmdd, yyyymm) and the thresholds fired in it: a new period
      replaces the text (no key more, nothing to expire; deletePool removes it).
  The thresholds are the caller's (the policy's `alerts.thresholds`, in
  percent, increasing): the script sets ALERT.min, the lowest (nil: no
  alerts), and ALERT.text, the list joined by ',', from its ARGV, and
  POOLS.amin = ALERT.min. The common case (every budget below the lowest) is
  arithmetic on the state only: no call, and the list is not parsed; it is
  parsed once per call when needed. For pools, the charge itself compares each
  level with the lowest (includes/pools.lua charge: POOLS.hot), so a settle
  under pools below it makes no call more either. A budget with no limit (0)
  has none.
  Needs: includes/agent (agentPeriod), includes/events (emit), includes/pools
  (POOLS), rcall.
]]
local ALERT = { min = nil, text = '', pcts = nil }

-- The thresholds crossed going from `before` to `after` of `limit`, or nil.
local function alertCrossed(before, after, limit)
  if limit <= 0 or after <= before then return nil end
  local pcts = ALERT.pcts
  if not pcts then
    pcts = {}
    for t in string.gmatch(ALERT.text, '%d+') do pcts[#pcts + 1] = tonumber(t) end
    ALERT.pcts = pcts
  end
  local b, x, hits = before * 100, after * 100, nil
  for i = 1, #pcts do
    local t = pcts[i] * limit
    if b < t and x >= t then
      hits = hits or {}
      hits[#hits + 1] = pcts[i]
    end
  end
  return hits
end

local function alertEmit(now, tail, agentId, poolId, budget, pct, period, used, limit)
  emit(now, tail, { 'type', 'budget_alert', 'agent_id', agentId, 'pool_id', poolId,
    'budget', budget, 'threshold_pct', pct, 'period', period, 'used', used, 'limit', limit })
end

-- After a charge of `tok` tokens and `cost` micro-dollars to the agent `a` (its
-- state already charged: s_used, and c_dcost and c_mcost by chargeDay): marks and
-- emits each threshold crossed for the first time in its period.
local function agentAlerts(agentKey, agentId, a, tok, cost, now, tail)
  local amin = ALERT.min
  if not amin then return end
  -- Below the lowest threshold of every budget (the common case): no function call, no table.
  local sl, dl, ml = a.s_limit, a.d_limit, a.m_limit
  if (sl <= 0 or a.s_used * 100 < amin * sl) and (dl <= 0 or a.c_dcost * 100 < amin * dl)
    and (ml <= 0 or a.c_mcost * 100 < amin * ml) then
    return
  end
  local s = alertCrossed(a.s_used - tok, a.s_used, a.s_limit)
  local d = alertCrossed(a.c_dcost - cost, a.c_dcost, a.d_limit)
  local m = alertCrossed(a.c_mcost - cost, a.c_mcost, a.m_limit)
  if not (s or d or m) then return end
  if s then
    for i = 1, #s do
      local f = 'a:' .. s[i]
      if rcall('HGET', agentKey, f) ~= a.sid then
        rcall('HSET', agentKey, f, a.sid)
        alertEmit(now, tail, agentId, '', 'session', s[i], a.sid, a.s_used, a.s_limit)
      end
    end
  end
  if d or m then
    local p, ds, ms = agentPeriod(a, now)
    if d then
      for i = 1, #d do
        if rcall('HSETNX', agentKey .. ds, 'a' .. d[i], 1) == 1 then
          alertEmit(now, tail, agentId, '', 'daily', d[i], p.day, a.c_dcost, a.d_limit)
        end
      end
    end
    if m then
      for i = 1, #m do
        if rcall('HSETNX', agentKey .. ms, 'a' .. m[i], 1) == 1 then
          alertEmit(now, tail, agentId, '', 'monthly', m[i], p.month, a.c_mcost, a.m_limit)
        end
      end
    end
  end
end

-- After `cost` micro-dollars charged by the agent `agentId` to each pool of the chain
-- `text` (P.close, P.charge: each level's c_dcost and c_mcost are of its period now),
-- leaf first, that brought one to the lowest threshold (POOLS.hot; the script calls it
-- then): marks and emits each threshold of a pool's day or month crossed for the
-- first time in that period (`agent_id` the agent, `pool_id` the pool).
local function poolAlerts(text, agentId, cost, now, tail)
  POOLS.hot = false
  local amin = ALERT.min
  if not amin or cost <= 0 then return end
  local P = POOLS.lib
  local c, cache = P.chainOf(text), P.cache
  for i = 1, #c do
    local p = cache[c[i]]
    local dl, ml = p and p.d_limit or 0, p and p.m_limit or 0
    if (dl > 0 and p.c_dcost * 100 >= amin * dl) or (ml > 0 and p.c_mcost * 100 >= amin * ml) then
      local k = P.key(p.root)
      for kind = 1, 2 do
        local used, limit = p.c_dcost, dl
        local field, period, budget = 'ad:' .. p.id, p.c_day, 'daily'
        if kind == 2 then
          used, limit = p.c_mcost, ml
          field, period, budget = 'am:' .. p.id, p.c_mon, 'monthly'
        end
        local hits = alertCrossed(used - cost, used, limit)
        if hits then
          local head = tostring(period) .. '|'
          local v = rcall('HGET', k, field)
          if not v or string.sub(v, 1, #head) ~= head then v = head end
          local fired = false
          for h = 1, #hits do
            if not string.find(v, '|' .. hits[h] .. '|', 1, true) then
              v, fired = v .. hits[h] .. '|', true
              alertEmit(now, tail, agentId, p.id, budget, hits[h], period, used, limit)
            end
          end
          if fired then rcall('HSET', k, field, v) end
        end
      end
    end
  end
end
