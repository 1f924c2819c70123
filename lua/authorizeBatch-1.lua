--[[
  authorizeBatch: one or more authorize decisions of one shard, in order, in
  one atomic call. For each: may the agent do the operation, and does the
  estimate fit every limit? If so, hold the estimate under a reservation with a
  lease. Each decision sees the writes of the ones before it, exactly as if
  the decisions were separate calls; every outcome emits its decision event,
  and the call appends all its events to the outbox as one entry.

  KEYS[1] outbox stream   tg:{s<n>}:outbox
  (derived from its hash tag `tg:{s<n>}:`, so the same Cluster slot, for each
   decision: agent hash  tg:{s<n>}:agent:<id> (its state `s` and its open
   holds `h:<nonce>`, see includes/agent.lua and includes/leases.lua), its
   leases zset <agent>:leases, closed-hold records <agent>:res:<nonce>,
   idempotency key <agent>:req:<request_id>, day hash <agent>:day:<yyyymmdd>; ids are checked against strict patterns
   before they reach Redis, so none holds `{`, `}` or `:`)

  ARGV[1]  offsetMs   integer ms added to TIME (tests only; 0 in production)
  ARGV[2]  eventTail  string, the random tail of the UUIDv7 event ids ('-7xxx-yxxx-xxxxxxxxxxxx')
  ARGV[3]  maxFree    integer, most expired leases freed per decision
  ARGV[4]  P          integer, the number of operation profiles that follow
  then 7 per profile (what the decisions of one operation share), k = 1..P at
  p = 5 + 7(k-1):
  ARGV[p]    operation  string
  ARGV[p+1]  model      string
  ARGV[p+2]  inRate     integer micro-dollars per million input tokens
  ARGV[p+3]  outRate    integer micro-dollars per million output tokens
  ARGV[p+4]  leaseMs    integer ms
  ARGV[p+5]  actor      string ('admin' | 'agent' | 'library')
  ARGV[p+6]  allowed    string, the roles allowed for the operation, each
                        between bars: '|coder|tester|' ('' = none)
  then 6 per decision, from j = 5 + 7P, step 6:
  ARGV[j]    agentId    string
  ARGV[j+1]  profile    integer k, 1-based
  ARGV[j+2]  estimate   integer tokens (> 0)
  ARGV[j+3]  nonce      string, the reservation id is <agentId>.<nonce>
  ARGV[j+4]  requestId  string ('' = none)
  ARGV[j+5]  keyDigest  string hex sha-256 of the caller's agent key ('' = not an agent key)

  Returns one flat array, { d1…, d2…, …, nowMs }: each decision's values in
  turn, numbers as integers:
    code                                         (codes 1, 6, 7, 14: 1 value)
    code, state, holdCostMicros                  (code 0: allowed, a new hold;
                                                  2-5: denied, holdCost 0)
    code, state, holdCostMicros, nonce, leaseEndMs, dayCostMicros
                                                 (code 8: the hold of an earlier
                                                  call with this request_id)
  where state is the agent's packed state after the decision (field `s`, see
  includes/agent.lua: its copy of the day's spend is of today for codes 0 and
  2-5; for code 8 the reply's dayCostMicros is). The reservation id of code 0
  is <agentId>.<nonce> (ARGV), its lease ends at nowMs + leaseMs (profile).
  Codes: 0 allowed, 1 AGENT_NOT_FOUND, 2 AGENT_SUSPENDED, 3 RBAC_DENIED,
         4 BUDGET_EXCEEDED session, 5 BUDGET_EXCEEDED daily, 6 UNAUTHENTICATED,
         7 IDEMPOTENCY_CONFLICT, 8 allowed (replay of request_id: nothing new held),
         14 SHARD_NOT_READY (no agent and no ready marker: recover the shard, call again)
  A denial writes only the agent's blocked counter and its audit event.
  Codes 6, 7 and 14 write nothing.
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/leases"
--- @include "includes/ready"

local outbox = KEYS[1]
local now = nowMs(ARGV[1])
local tail, maxFree = ARGV[2], tonumber(ARGV[3])
local shardPrefix = string.match(outbox, '^(.-}:)') .. 'agent:'
daySuffix(now) -- sets dayNumber, today's yyyymmdd (includes/agent.lua)
local DENIALS = { 'AGENT_NOT_FOUND', 'AGENT_SUSPENDED', 'RBAC_DENIED', 'BUDGET_EXCEEDED', 'BUDGET_EXCEEDED' }

-- Keyed by the profile number as ARGV gives it ('1', '2', …): no text-to-number per decision.
local profiles = {}
local nProfiles = tonumber(ARGV[4])
for k = 1, nProfiles do
  local p = 5 + 7 * (k - 1)
  local inRate, outRate = tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])
  local leaseEnd = now + tonumber(ARGV[p + 4])
  profiles[tostring(k)] = { op = ARGV[p], model = ARGV[p + 1], inRate = ARGV[p + 2], outRate = ARGV[p + 3],
    rate = math.max(inRate, outRate), leaseEnd = leaseEnd, leaseEndText = tostring(leaseEnd),
    actor = ARGV[p + 5], roles = ARGV[p + 6], allows = {} }
end
local firstDecision = 5 + 7 * nProfiles

-- The reply: one flat array (a table per decision would cost Redis a table walk
-- each), each decision's values in turn (see the header). The agent's state
-- goes back as the packed text stored (one value, not twelve to convert).
local out, nOut = {}, 0
local function short(code)
  nOut = nOut + 1
  out[nOut] = code
end
local function reply(code, state, holdCost)
  local k = nOut
  out[k + 1], out[k + 2], out[k + 3] = code, state, holdCost
  nOut = k + 3
end

-- The decision event, positional (src/engine/outbox-format.ts DECISION_FIELDS:
-- type, event_id, at, agent_id, session_id, role, operation, allowed,
-- error_code, exceeded, estimated_tokens, cost, model, reservation_id,
-- request_id, session_utilization, daily_utilization, actor). Values that are
-- already text (ARGV) go in as they are; one concatenation, no table: this
-- runs once per decision.
local function decisionEvent(j, pr, agentId, a, allowed, code, exceeded, cUsed, resDot, nonce, costText)
  local sid, role, su, du = '', '', '', ''
  if a then sid, role, su, du = a.sid, a.role, pct(a.s_used, a.s_limit), pct(cUsed, a.d_limit) end
  local id, n, at = eventIdParts(now, tail)
  pushEvent('decision\31' .. id .. n .. at .. agentId .. '\31' .. sid .. '\31' .. role .. '\31'
    .. pr.op .. '\31' .. allowed .. '\31' .. code .. '\31' .. exceeded .. '\31' .. ARGV[j + 2]
    .. '\31' .. costText .. '\31' .. pr.model .. '\31' .. (resDot == '' and '' or agentId) .. resDot
    .. nonce .. '\31' .. ARGV[j + 4] .. '\31' .. su .. '\31' .. du .. '\31' .. pr.actor)
end

-- Whether the profile's operation allows the role (worked out once per role and profile per call).
local function roleAllowed(pr, role)
  local known = pr.allows[role]
  if known == nil then
    known = string.find(pr.roles, '|' .. role .. '|', 1, true) ~= nil
    pr.allows[role] = known
  end
  return known
end

-- One table for the agent state of every decision (filled by loadAgent), and
-- the hold costs as text, formatted once per call.
local agentTable, costTexts = {}, {}

local function decide(j)
  local agentId, nonce, requestId, digest = ARGV[j], ARGV[j + 3], ARGV[j + 4], ARGV[j + 5]
  local pr = profiles[ARGV[j + 1]]
  local estimate = tonumber(ARGV[j + 2])
  local agentKey = shardPrefix .. agentId
  local holdCost = costMicros(estimate, pr.rate, 0, 0)

  local a = loadAgent(agentKey, agentTable)
  if not a then
    if not shardReady(outbox) then return short(14) end
    decisionEvent(j, pr, agentId, nil, '0', 'AGENT_NOT_FOUND', '', 0, '', '', '0')
    return short(1)
  end
  if digest ~= '' and a.digest ~= digest then return short(6) end

  local fingerprint
  if requestId ~= '' then
    fingerprint = pr.op .. '|' .. ARGV[j + 2] .. '|' .. pr.model
    local prior = rcall('GET', agentKey .. ':req:' .. requestId)
    if prior then
      local exp, priorNonce, priorFp = string.match(prior, '^(%d+)|([^|]*)|(.*)$')
      -- A request id whose hold is gone (its agent was deleted) is decided afresh.
      if rcall('HEXISTS', agentKey, 'h:' .. priorNonce) == 1
        or rcall('EXISTS', agentKey .. ':res:' .. priorNonce) == 1 then
        if priorFp ~= fingerprint then return short(7) end
        local state = a.raw
        if string.byte(state, 1) ~= 2 then state = saveAgent(agentKey, a) end -- earlier format
        reply(8, state, holdCost)
        local k = nOut
        out[k + 1], out[k + 2], out[k + 3] = priorNonce, tonumber(exp), dayCostOf(agentKey, a, now)
        nOut = k + 3
        return
      end
    end
  end

  local leasesKey = agentKey .. ':leases'
  -- (The checks that usually find nothing to do, made here: no call per decision.)
  if a.next_exp ~= 0 and a.next_exp <= now then
    freeExpired(agentKey, leasesKey, a, agentId, now, maxFree, tail)
  end
  local cUsed = a.c_day == dayNumber and a.c_dcost or dayCostOf(agentKey, a, now)

  local code, exceeded = 0, ''
  if a.status ~= 'active' then
    code = 2
  elseif not roleAllowed(pr, a.role) then
    code = 3
  elseif a.s_used + a.s_res + estimate > a.s_limit then
    code, exceeded = 4, 'session'
  elseif cUsed + a.c_res + holdCost > a.d_limit then
    code, exceeded = 5, 'daily'
  end

  if code ~= 0 then
    a.blocked = a.blocked + 1
    local state = saveAgent(agentKey, a)
    decisionEvent(j, pr, agentId, a, '0', DENIALS[code], exceeded, cUsed, '', '', '0')
    return reply(code, state, 0)
  end

  local leaseEnd = pr.leaseEnd
  local costText = costTexts[holdCost]
  if not costText then
    costText = tostring(holdCost)
    costTexts[holdCost] = costText
  end
  a.s_res = a.s_res + estimate
  a.c_res = a.c_res + holdCost
  local firstHold = a.next_exp == 0
  if firstHold or leaseEnd < a.next_exp then a.next_exp = leaseEnd end
  local state = saveAgent(agentKey, a, 'h:' .. nonce, packHold(a.sid, ARGV[j + 2], costText, pr.inRate,
    pr.outRate, pr.op, pr.model, pr.leaseEndText, requestId))
  if firstHold then
    rcall('ZADD', leasesKey, '+inf', LEASE_SENTINEL, pr.leaseEndText, nonce)
  else
    rcall('ZADD', leasesKey, pr.leaseEndText, nonce)
  end
  if requestId ~= '' then
    rcall('SET', agentKey .. ':req:' .. requestId, pr.leaseEndText .. '|' .. nonce .. '|' .. fingerprint,
      'PX', 3600000)
  end
  decisionEvent(j, pr, agentId, a, '1', '', '', cUsed, '.', nonce, costText)
  return reply(0, state, holdCost)
end

for j = firstDecision, #ARGV, 6 do
  decide(j)
end
out[nOut + 1] = now
flushEvents(outbox)
return out
