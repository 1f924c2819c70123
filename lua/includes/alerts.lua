--[[
  Budget alerts (docs/operations.md "Alerts", docs/engine.md "Alert marks"):
  when a charge moves a budget's used amount from below a threshold to at or
  above it, the threshold's mark is set where the period lives (the session's:
  agent hash field `a:<pct>` = the session id; the day's and month's: field
  `a<pct>` of the day and month hashes) and, if it was not set already, one
  `budget_alert` event is emitted. So each threshold fires once per budget and
  period, whatever the concurrency (the check and the mark are in the script).
  The common case (nothing crosses) is arithmetic on the state only: no call.
  ALERT_PCTS is the one list of thresholds, in percent (src/engine/alerts.ts
  reads it from here for MemoryEngine). A budget with no limit (0) has none.
  Needs: includes/agent (agentPeriod), includes/events (emit), rcall.
]]
local ALERT_PCTS = { 50, 80, 100 }
local ALERT_MIN = ALERT_PCTS[1] -- the lowest (the list is in increasing order)

-- The thresholds crossed going from `before` to `after` of `limit`, or nil.
local function alertCrossed(before, after, limit)
  if limit <= 0 or after <= before then return nil end
  local b, x, hits = before * 100, after * 100, nil
  for i = 1, #ALERT_PCTS do
    local t = ALERT_PCTS[i] * limit
    if b < t and x >= t then
      hits = hits or {}
      hits[#hits + 1] = ALERT_PCTS[i]
    end
  end
  return hits
end

local function alertEmit(now, tail, agentId, budget, pct, period, used, limit)
  emit(now, tail, { 'type', 'budget_alert', 'agent_id', agentId, 'pool_id', '',
    'budget', budget, 'threshold_pct', pct, 'period', period, 'used', used, 'limit', limit })
end

-- After a charge of `tok` tokens and `cost` micro-dollars to the agent `a` (its
-- state already charged: s_used, and c_dcost and c_mcost by chargeDay): marks and
-- emits each threshold crossed for the first time in its period.
local function agentAlerts(agentKey, agentId, a, tok, cost, now, tail)
  -- Below the lowest threshold of every budget (the common case): no function call, no table.
  local sl, dl, ml = a.s_limit, a.d_limit, a.m_limit
  if (sl <= 0 or a.s_used * 100 < ALERT_MIN * sl) and (dl <= 0 or a.c_dcost * 100 < ALERT_MIN * dl)
    and (ml <= 0 or a.c_mcost * 100 < ALERT_MIN * ml) then
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
        alertEmit(now, tail, agentId, 'session', s[i], a.sid, a.s_used, a.s_limit)
      end
    end
  end
  if d or m then
    local p, ds, ms = agentPeriod(a, now)
    if d then
      for i = 1, #d do
        if rcall('HSETNX', agentKey .. ds, 'a' .. d[i], 1) == 1 then
          alertEmit(now, tail, agentId, 'daily', d[i], p.day, a.c_dcost, a.d_limit)
        end
      end
    end
    if m then
      for i = 1, #m do
        if rcall('HSETNX', agentKey .. ms, 'a' .. m[i], 1) == 1 then
          alertEmit(now, tail, agentId, 'monthly', m[i], p.month, a.c_mcost, a.m_limit)
        end
      end
    end
  end
end
