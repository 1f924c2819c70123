--[[
  authorize: may the agent do the operation, and does the estimate fit every
  limit? If so, hold the estimate under a reservation with a lease. One atomic
  step; every outcome appends its decision event to the outbox.

  KEYS[1] agent hash            tg:{s<n>}:agent:<id>
  KEYS[2] leases zset           tg:{s<n>}:agent:<id>:leases   (member: reservation nonce, score: lease end ms)
  KEYS[3] reservation hash      tg:{s<n>}:agent:<id>:res:<nonce>
  KEYS[4] idempotency key       tg:{s<n>}:agent:<id>:req:<request_id>  (placeholder ...:req: when none)
  KEYS[5] outbox stream         tg:{s<n>}:outbox
  (derived, same hash tag: <agent>:day:<yyyymmdd>, <agent>:res:<nonce> of expired leases)

  ARGV[1]  offsetMs   integer ms added to TIME (tests only; 0 in production)
  ARGV[2]  agentId    string
  ARGV[3]  operation  string
  ARGV[4]  estimate   integer tokens (> 0)
  ARGV[5]  inRate     integer micro-dollars per million input tokens
  ARGV[6]  outRate    integer micro-dollars per million output tokens
  ARGV[7]  model      string
  ARGV[8]  nonce      string, the reservation id is <agentId>.<nonce>
  ARGV[9]  leaseMs    integer ms
  ARGV[10] requestId  string ('' = none)
  ARGV[11] keyDigest  string hex sha-256 of the caller's agent key ('' = not an agent key)
  ARGV[12] eventTail  string, the random tail of the UUIDv7 event ids ('-7xxx-yxxx-xxxxxxxxxxxx')
  ARGV[13] actor      string ('admin' | 'agent' | 'library')
  ARGV[14] maxFree    integer, most expired leases freed in this call
  ARGV[15] allowed   string, the roles allowed for the operation (from the policy),
                     each between bars: '|coder|tester|' ('' = none)

  Returns { code, { reservationId, leaseEndMs, holdCostMicros }, statusTuple }
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

local agentKey, leasesKey, resKey, reqKey, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local agentId, operation, model, nonce = ARGV[2], ARGV[3], ARGV[7], ARGV[8]
local estimate, inRate, outRate = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local requestId, digest, tail, actor = ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local now = nowMs(ARGV[1])
local holdCost = costMicros(estimate, math.max(inRate, outRate), 0, 0)
local fingerprint = operation .. '|' .. estimate .. '|' .. model

local function decisionEvent(a, allowed, code, exceeded, cUsed, resId, n)
  emit(outbox, now, tail, n, { 'type', 'decision', 'agent_id', agentId,
    'session_id', a and a.sid or '', 'role', a and a.role or '', 'operation', operation,
    'allowed', allowed, 'error_code', code, 'exceeded', exceeded,
    'estimated_tokens', estimate, 'cost', allowed == 1 and holdCost or 0, 'model', model,
    'reservation_id', resId, 'request_id', requestId,
    'session_utilization', a and pct(a.s_used, a.s_limit) or '',
    'daily_utilization', a and pct(cUsed, a.d_limit) or '', 'actor', actor })
end

local a = loadAgent(agentKey)
if not a then
  if not shardReady(agentKey) then return { 14, {}, {} } end
  decisionEvent(nil, 0, 'AGENT_NOT_FOUND', '', 0, '', 0)
  return { 1, {}, {} }
end
if digest ~= '' and a.digest ~= digest then
  return { 6, {}, {} }
end

if requestId ~= '' then
  local prior = rcall('GET', reqKey)
  if prior then
    local exp, priorNonce, priorFp = string.match(prior, '^(%d+)|([^|]*)|(.*)$')
    -- A request id whose hold is gone (its agent was deleted) is decided afresh.
    if rcall('EXISTS', agentKey .. ':res:' .. priorNonce) == 1 then
      if priorFp ~= fingerprint then return { 7, {}, {} } end
      return { 8, { agentId .. '.' .. priorNonce, tonumber(exp), holdCost },
        statusOf(a, dayCost(agentKey, now), now) }
    end
  end
end

local n = freeExpired(agentKey, leasesKey, outbox, a, agentId, now, tonumber(ARGV[14]), tail, 0)
local cUsed = dayCost(agentKey, now)

local code, exceeded = 0, ''
if a.status ~= 'active' then
  code = 2
else
  if not string.find(ARGV[15], '|' .. a.role .. '|', 1, true) then
    code = 3
  elseif a.s_used + a.s_res + estimate > a.s_limit then
    code, exceeded = 4, 'session'
  elseif cUsed + a.c_res + holdCost > a.d_limit then
    code, exceeded = 5, 'daily'
  end
end

if code ~= 0 then
  a.blocked = a.blocked + 1
  if a.dirty then saveCounters(agentKey, a) else rcall('HINCRBY', agentKey, 'blocked', 1) end
  local names = { 'AGENT_NOT_FOUND', 'AGENT_SUSPENDED', 'RBAC_DENIED', 'BUDGET_EXCEEDED', 'BUDGET_EXCEEDED' }
  decisionEvent(a, 0, names[code], exceeded, cUsed, '', n)
  return { code, {}, statusOf(a, cUsed, now) }
end

local leaseEnd = now + tonumber(ARGV[9])
local resId = agentId .. '.' .. nonce
a.s_res = a.s_res + estimate
a.c_res = a.c_res + holdCost
if a.next_exp == 0 or leaseEnd < a.next_exp then a.next_exp = leaseEnd end
saveCounters(agentKey, a)
rcall('HSET', resKey, 'st', 'open', 'sid', a.sid, 'tok', estimate, 'cost', holdCost,
  'rin', inRate, 'rout', outRate, 'op', operation, 'model', model, 'exp', leaseEnd, 'req', requestId)
rcall('ZADD', leasesKey, leaseEnd, nonce)
if requestId ~= '' then
  rcall('SET', reqKey, leaseEnd .. '|' .. nonce .. '|' .. fingerprint, 'PX', 3600000)
end
decisionEvent(a, 1, '', '', cUsed, resId, n)
return { 0, { resId, leaseEnd, holdCost }, statusOf(a, cUsed, now) }
