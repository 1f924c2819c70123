--[[
  Shadow mode (docs/operations.md, "Shadow mode"): authorize's denial of an
  agent whose role or id the profile names in shadow (authorize-1's ARGV
  shadowRoles, shadowAgents: '|a|b|' or '') is let pass. The decision is
  allowed and held exactly as an allowed one (session and day reserves, the
  lease, every pool of the agent), its blocked counter untouched; its answer
  is SHADOW with the denial's code, and its decision event is the allowed
  one, written with names and an extra `would_deny` (the denial's error code),
  `exceeded` and, for a pool, `pool_id`. Not let pass: AGENT_SUSPENDED (an
  operator's act), and what is not a decision about an existing agent (not
  found, a wrong key, a request id's conflict, a replay).
  Rate limits: a limit that denies keeps its arrival time (as a denial does),
  so a shadowed request is not counted by the limit it exceeds; every limit
  that would pass counts it (the checks a denial skipped are made: the
  agent's rate limits after a budget's or the role's denial, then its pools).
  The functions are made only in a call that has a denial to let pass:
  shadow() answers them (S.applies, S.rest, S.event), made on its first use,
  as pools() (a call that denies nothing in shadow makes none of them).
  Needs: codes.lua, events.lua, money.lua (pct), rate.lua (agentRate), pools.lua.
]]
local SHADOW = { lib = nil }

local function shadow()
  local S = SHADOW.lib
  if S then return S end
  S = {}
  SHADOW.lib = S

  -- Whether denial `code` of the agent (its role and id) is let pass by profile `pr`.
  function S.applies(pr, role, agentId, code)
    if code == C.OK or code == C.AGENT_SUSPENDED then return false end
    return (pr.shadowRoles ~= '' and string.find(pr.shadowRoles, '|' .. role .. '|', 1, true) ~= nil)
      or (pr.shadowAgents ~= '' and string.find(pr.shadowAgents, '|' .. agentId .. '|', 1, true) ~= nil)
  end

  --[[
    The checks denial `code` skipped, so that every limit that would pass counts
    the request (nothing is written): after a budget's or the role's denial, the
    agent's rate limits (their new rT, rF, tT, tF; nil when they deny or there are
    none); then, after any of the agent's, each pool (includes/pools.lua P.check).
    Also answers the pool from which the levels keep their arrival times (P.hold's
    `stop`): the pool that denied, or nil.
  ]]
  function S.rest(a, code, estimate, holdCost, now, poolId)
    if code >= C.POOL_DAILY and code <= C.POOL_RATE_TOKENS then return nil, nil, nil, nil, poolId end
    local rT, rF, tT, tF
    if code ~= C.RATE_REQUESTS and code ~= C.RATE_TOKENS and (a.rpm > 0 or a.tpm > 0) then
      local rc
      rc, rT, rF, tT, tF = agentRate(a, estimate, now)
      if rc then rT, rF, tT, tF = nil, nil, nil, nil end
    end
    local stop
    if a.pools ~= '' then
      local pc, pid = pools().check(a.pools, holdCost, estimate, now)
      if pc then stop = pid end
    end
    return rT, rF, tT, tF, stop
  end

  -- The decision event of a shadow decision: the allowed decision's fields by name
  -- (lua/authorize-1.lua decisionEvent), with `exceeded`, then `pool_id` (a pool's
  -- denial) and `would_deny` (the denial's error code).
  function S.event(now, tail, pr, agentId, a, estimate, costText, nonce, requestId, cUsed,
                   errorCode, exceeded, poolId)
    emitText(now, tail, 'type\31decision\31agent_id\31' .. agentId .. '\31session_id\31' .. a.sid
      .. '\31role\31' .. a.role .. '\31operation\31' .. pr.op .. '\31allowed\0311\31error_code\31'
      .. '\31exceeded\31' .. exceeded .. '\31estimated_tokens\31' .. estimate .. '\31cost\31'
      .. costText .. '\31model\31' .. pr.model .. '\31reservation_id\31' .. agentId .. '.' .. nonce
      .. '\31request_id\31' .. requestId .. '\31session_utilization\31' .. pct(a.s_used, a.s_limit)
      .. '\31daily_utilization\31' .. pct(cUsed, a.d_limit) .. '\31actor\31' .. pr.actor
      .. (poolId and '\31pool_id\31' .. poolId or '') .. '\31would_deny\31' .. errorCode)
  end

  return S
end
