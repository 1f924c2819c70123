--[[
  authorize: one or more authorize decisions of one shard, in order, in
  one atomic call. For each: may the agent do the operation, and does the
  estimate fit every limit (the session and daily budgets, then the rate
  limits: includes/rate.lua; then, for an agent in a pool, each pool from its
  own up to the root: daily, monthly, requests and tokens per minute,
  includes/pools.lua)? If so, hold the estimate under a reservation with
  a lease (and under each of its pools). A denial of an agent in shadow mode
  (its role or id in the profile's shadow lists; not AGENT_SUSPENDED) is held
  as if allowed and answered SHADOW (includes/shadow.lua). Each decision sees
  the writes of the ones before it, exactly as if
  the decisions were separate calls; every decision about an existing agent
  emits its decision event, and the call appends all its events to the outbox
  as one entry. Safe to run twice: a decision whose nonce the agent has seen
  (the same call resent) answers the recorded result and writes nothing for
  it: adding the nonce to the leases zset (ZADD NX, the call that indexes the
  hold anyway) finds it there, so the check costs the allowed path no call.

  KEYS[1] outbox stream   tg:{s<n>}:outbox
  (derived from its hash tag `tg:{s<n>}:`, so the same Cluster slot, for each
   decision: agent hash  tg:{s<n>}:agent:<id> (its state, holds and records,
   see includes/agent.lua and includes/records.lua), its leases zset
   <agent>:leases, day hash <agent>:day:<yyyymmdd> and month hash
   <agent>:month:<yyyymm>, local to the agent's zone (includes/agent.lua); for an
   agent in a pool its hierarchy's hash tg:{s<n>}:pool:<root> (includes/pools.lua);
   for an agent not found, the shard's directory tg:{s<n>}:dir (includes/pools.lua P.missing);
   ids are checked against strict patterns before they reach Redis, so none holds
   `{`, `}` or `:`)

  ARGV[1]  offsetMs   integer ms added to TIME (tests only; 0 in production)
  ARGV[2]  eventTail  string, the random tail of the UUIDv7 event ids ('-7xxx-yxxx-xxxxxxxxxxxx')
  ARGV[3]  maxFree    integer, most expired holds freed in this call (all decisions)
  ARGV[4]  P          integer, the number of operation profiles that follow
  then 9 per profile (what the decisions of one operation share), k = 1..P at
  p = 5 + 9(k-1):
  ARGV[p]    operation  string
  ARGV[p+1]  model      string
  ARGV[p+2]  inRate     integer micro-dollars per million input tokens
  ARGV[p+3]  outRate    integer micro-dollars per million output tokens
  ARGV[p+4]  leaseMs    integer ms
  ARGV[p+5]  actor      string ('admin' | 'agent' | 'library')
  ARGV[p+6]  allowed    string, the roles allowed for the operation, each
                        between bars: '|coder|tester|' ('' = none)
  ARGV[p+7]  shadowRoles  string, the roles in shadow mode, as `allowed` ('' = none)
  ARGV[p+8]  shadowAgents string, the agent ids in shadow mode, as `allowed` ('' = none)
  then 7 per decision, from j = 5 + 9P, step 7:
  ARGV[j]    agentId    string
  ARGV[j+1]  profile    integer k, 1-based
  ARGV[j+2]  estimate   integer tokens (> 0)
  ARGV[j+3]  nonce      string (16 hex), made by the caller: the reservation id is <agentId>.<nonce>
  ARGV[j+4]  requestId  string ('' = none)
  ARGV[j+5]  keyDigest  string hex sha-256 of the caller's agent key ('' = not an agent key)
  ARGV[j+6]  holdCost   integer micro-dollars >= 0, the hold's cost as trusted code priced it
                        ('' = not given: estimate × the higher of the profile's rates, rounded
                        up); part of a request id's fingerprint when given

  Returns one flat array, { d1…, d2…, …, nowMs }: each decision's values in
  turn, numbers as integers:
    code                                    (AGENT_NOT_FOUND, UNAUTHENTICATED,
                                             IDEMPOTENCY_CONFLICT, SHARD_NOT_READY, MOVING:
                                             1 value)
    ELSEWHERE, shard                        (no agent here: it lives on that shard)
    code, state, holdCostMicros             (OK: a new hold; AGENT_SUSPENDED,
                                             RBAC_DENIED, BUDGET_SESSION, BUDGET_DAILY,
                                             BUDGET_MONTHLY:
                                             denied, holdCost 0; RATE_REQUESTS,
                                             RATE_TOKENS: denied, in its place the ms
                                             until the rate limits would allow it)
    code, state, retryMs, poolId            (POOL_DAILY, POOL_MONTHLY, POOL_RATE_REQUESTS,
                                             POOL_RATE_TOKENS: denied by that pool; retryMs
                                             of a rate limit, else 0)
    SHADOW, state, holdCostMicros, deniedCode, poolId
                                            (a new hold of a denial let pass in shadow
                                             mode: deniedCode, one of the denials above
                                             but AGENT_SUSPENDED; poolId: a pool's, else '')
    REPLAYED, state, holdCostMicros, nonce, leaseEndMs, resState
                                            (the hold an earlier run made: of this
                                             nonce, or of this request id; resState
                                             RES_STATE of includes/codes.lua)
    REPLAYED_DENIAL, state, code, retryMs, poolId
                                            (the denial an earlier run recorded; retryMs:
                                             of a rate limit, the ms left until its
                                             recorded time, else 0; poolId: a pool's, else '')
  where state is the agent's packed state after the decision (field `s`, see
  includes/agent.lua; its copy of the day's spend is today's), as every
  script answers it. The reservation
  id of OK and SHADOW is <agentId>.<nonce> (ARGV), its lease ends at nowMs + leaseMs.
  Codes (includes/codes.lua): OK, AGENT_NOT_FOUND, AGENT_SUSPENDED, RBAC_DENIED,
  BUDGET_SESSION, BUDGET_DAILY, BUDGET_MONTHLY, RATE_REQUESTS, RATE_TOKENS, POOL_DAILY,
  POOL_MONTHLY, POOL_RATE_REQUESTS, POOL_RATE_TOKENS, UNAUTHENTICATED, IDEMPOTENCY_CONFLICT,
  REPLAYED, REPLAYED_DENIAL, SHADOW, ELSEWHERE, MOVING, SHARD_NOT_READY (no agent and no
  ready marker: recover the shard, call again).
  A pool's denial's decision event is written with field names (it adds `pool_id`), and
  so is a shadow decision's (it adds `would_deny`); every other decision event is
  positional (src/engine/outbox-format.ts).
  A denial writes the agent's blocked counter, its record and its audit event; a shadow
  decision writes what an allowed one does.
  AGENT_NOT_FOUND, UNAUTHENTICATED, IDEMPOTENCY_CONFLICT, the replays, ELSEWHERE,
  MOVING and SHARD_NOT_READY write nothing.
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/shadow"
--- @include "includes/records"
--- @include "includes/ready"

local outbox = KEYS[1]
POOLS.key = outbox
local now = nowMs(ARGV[1])
local tail = ARGV[2]
freeBudget = tonumber(ARGV[3])
local shardPrefix = string.match(outbox, '^(.-}:)') .. 'agent:'
local tomb = tombScore(now)
-- The decision event's error_code of each denial (src/engine/codes.ts denialOf).
local DENIALS = { [C.AGENT_SUSPENDED] = 'AGENT_SUSPENDED', [C.RBAC_DENIED] = 'RBAC_DENIED',
  [C.BUDGET_SESSION] = 'BUDGET_EXCEEDED', [C.BUDGET_DAILY] = 'BUDGET_EXCEEDED',
  [C.BUDGET_MONTHLY] = 'BUDGET_EXCEEDED',
  [C.RATE_REQUESTS] = 'RATE_LIMITED', [C.RATE_TOKENS] = 'RATE_LIMITED' }

-- Keyed by the profile number as ARGV gives it ('1', '2', …): no text-to-number per decision.
local profiles = {}
local nProfiles = tonumber(ARGV[4])
for k = 1, nProfiles do
  local p = 5 + 9 * (k - 1)
  local inRate, outRate = tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])
  local leaseEnd = now + tonumber(ARGV[p + 4])
  profiles[tostring(k)] = { op = ARGV[p], model = ARGV[p + 1], inRate = ARGV[p + 2], outRate = ARGV[p + 3],
    rate = math.max(inRate, outRate), leaseEnd = leaseEnd, leaseEndText = string.format('%d', leaseEnd),
    actor = ARGV[p + 5], roles = ARGV[p + 6], allows = {}, shadowRoles = ARGV[p + 7],
    shadowAgents = ARGV[p + 8] }
end
local firstDecision = 5 + 9 * nProfiles

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
  local id, n, at = eventIdParts(now, tail)
  pushEvent('decision\31' .. id .. n .. at .. agentId .. '\31' .. a.sid .. '\31' .. a.role .. '\31'
    .. pr.op .. '\31' .. allowed .. '\31' .. code .. '\31' .. exceeded .. '\31' .. ARGV[j + 2]
    .. '\31' .. costText .. '\31' .. pr.model .. '\31' .. (resDot == '' and '' or agentId) .. resDot
    .. nonce .. '\31' .. ARGV[j + 4] .. '\31' .. pct(a.s_used, a.s_limit) .. '\31'
    .. pct(cUsed, a.d_limit) .. '\31' .. pr.actor)
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

-- The answer of an earlier run, from the record `v` of its nonce: nothing is written
-- for the decision (what freeing expired holds changed is saved).
local function replay(agentKey, a, nonce, v)
  local r = readRecord(v)
  dayCostOf(agentKey, a, now)
  local state = a.dirty and saveAgent(agentKey, a) or packAgent(a)
  if r.st == 'denied' then
    reply(C.REPLAYED_DENIAL, state, r.code)
    local k = nOut
    out[k + 1], out[k + 2] = r.retryAt > now and r.retryAt - now or 0, r.pool
    nOut = k + 2
    return
  end
  local st = r.st
  if st == 'open' and r.exp <= now then st = 'expired' end
  reply(C.REPLAYED, state, r.cost)
  local k = nOut
  out[k + 1], out[k + 2], out[k + 3] = nonce, r.exp, RES_STATE[st]
  nOut = k + 3
end

-- One table for the agent state of every decision (filled by loadAgent), and
-- the hold costs as text, formatted once per call.
local agentTable, costTexts = {}, {}

local function decide(j)
  local agentId, nonce, requestId, digest = ARGV[j], ARGV[j + 3], ARGV[j + 4], ARGV[j + 5]
  local priced = ARGV[j + 6]
  local pr = profiles[ARGV[j + 1]]
  local estimate = tonumber(ARGV[j + 2])
  local agentKey = shardPrefix .. agentId
  local holdField = 'h:' .. nonce
  local reqField = requestId ~= '' and 'r:' .. requestId or nil

  local a, req = loadAgent(agentKey, agentTable, reqField)
  if not a then
    local code, shard = pools().missing(outbox, agentId)
    short(code)
    if shard then short(shard) end
    return
  end
  if digest ~= '' and a.digest ~= digest then return short(C.UNAUTHENTICATED) end

  local fingerprint
  if reqField then
    fingerprint = pr.op .. '|' .. ARGV[j + 2] .. '|' .. pr.model
    if priced ~= '' then fingerprint = fingerprint .. '|' .. priced end
    if req then
      local priorNonce, priorFp = string.match(req, '^([^\31]*)\31(.*)$')
      -- A request id whose record is gone (its time passed) is decided afresh.
      local v = rcall('HGET', agentKey, 'h:' .. priorNonce)
      if v then
        if priorFp ~= fingerprint then return short(C.IDEMPOTENCY_CONFLICT) end
        return replay(agentKey, a, priorNonce, v)
      end
    end
  end

  local leasesKey = agentKey .. ':leases'
  -- (The checks that usually find nothing to do, made here: no call per decision.)
  if a.next_exp ~= 0 and a.next_exp <= now then
    freeExpired(agentKey, leasesKey, a, agentId, now, tail)
  end
  if a.p_next <= now then purgeRecords(agentKey, leasesKey, a, now) end
  local cUsed = dayCostOf(agentKey, a, now)
  local holdCost = priced == '' and costMicros(estimate, pr.rate, 0, 0) or tonumber(priced)

  local code, exceeded, retry, rT, rF, tT, tF = C.OK, '', 0, nil, nil, nil, nil
  local poolId, pooled = nil, false
  if a.status ~= 'active' then
    code = C.AGENT_SUSPENDED
  elseif not roleAllowed(pr, a.role) then
    code = C.RBAC_DENIED
  elseif a.s_used + a.s_res + estimate > a.s_limit then
    code, exceeded = C.BUDGET_SESSION, 'session'
  elseif cUsed + a.c_res + holdCost > a.d_limit then
    code, exceeded = C.BUDGET_DAILY, 'daily'
  elseif a.m_limit > 0 and a.c_mcost + a.c_res + holdCost > a.m_limit then
    code, exceeded = C.BUDGET_MONTHLY, 'monthly'
  elseif a.rpm > 0 or a.tpm > 0 then
    -- The rate limits, after the budgets (includes/rate.lua): stored below, once held.
    local rc
    rc, rT, rF, tT, tF = agentRate(a, estimate, now)
    if rc then
      code, retry, rT = rc, rT, nil
      exceeded = rc == C.RATE_REQUESTS and 'requests_per_minute' or 'tokens_per_minute'
    end
  end
  if code == C.OK and a.pools ~= '' then
    -- Then each pool, leaf first (includes/pools.lua): stored below, once held.
    local pc, pid, pr2 = pools().check(a.pools, holdCost, estimate, now)
    if pc then
      code, poolId, retry = pc, pid, pr2
    else
      pooled = true
    end
  end
  -- Shadow mode (includes/shadow.lua): the denial is held as if allowed, the checks it
  -- skipped made first (no write before them).
  local wouldDeny, stop
  if code ~= C.OK and (pr.shadowRoles ~= '' or pr.shadowAgents ~= '')
    and shadow().applies(pr, a.role, agentId, code) then
    local sT, sF, uT, uF
    sT, sF, uT, uF, stop = shadow().rest(a, code, estimate, holdCost, now, poolId)
    if sT then rT, rF, tT, tF = sT, sF, uT, uF end
    wouldDeny = code
    if poolId then exceeded = select(2, pools().named(code)) end
    code, pooled = C.OK, a.pools ~= ''
  end

  -- The nonce's member in the leases zset: ZADD NX adds it, or finds it there (this
  -- call was run before: its reply was lost and it was sent again) and then the
  -- first run's record answers, before anything of this run is written.
  if code ~= C.OK then
    if rcall('ZADD', leasesKey, 'NX', tomb, holdField) == 0 then
      return replay(agentKey, a, nonce, rcall('HGET', agentKey, holdField))
    end
    a.blocked = a.blocked + 1
    local state
    local record = retry > 0 and '\4\31' .. code .. '\31' .. (now + retry) or '\4\31' .. code
    if poolId then record = (retry > 0 and record or record .. '\0310') .. '\31' .. poolId end
    if reqField then
      state = saveAgent(agentKey, a, holdField, record, reqField, nonce .. '\31' .. fingerprint)
      rcall('ZADD', leasesKey, tomb, reqField)
    else
      state = saveAgent(agentKey, a, holdField, record)
    end
    if poolId then
      pools().denied(now, tail, pr, agentId, a, code, ARGV[j + 2], ARGV[j + 4], cUsed, poolId)
      reply(code, state, retry)
      return short(poolId)
    end
    decisionEvent(j, pr, agentId, a, '0', DENIALS[code], exceeded, cUsed, '', '', '0')
    return reply(code, state, retry)
  end

  if rcall('ZADD', leasesKey, 'NX', pr.leaseEndText, holdField) == 0 then
    return replay(agentKey, a, nonce, rcall('HGET', agentKey, holdField))
  end
  local leaseEnd = pr.leaseEnd
  local costText = costTexts[holdCost]
  if not costText then
    costText = string.format('%d', holdCost)
    costTexts[holdCost] = costText
  end
  a.s_res = a.s_res + estimate
  a.c_res = a.c_res + holdCost
  if rT then a.r_tat, a.r_frac, a.t_tat, a.t_frac = rT, rF, tT, tF end
  if a.next_exp == 0 or leaseEnd < a.next_exp then a.next_exp = leaseEnd end
  local hold = packHold(a.sid, ARGV[j + 2], costText, pr.inRate, pr.outRate, pr.op, pr.model,
    pr.leaseEndText, requestId)
  if pooled then
    pools().hold(a.pools, holdCost, stop)
    hold = hold .. '\31' .. a.pools
  end
  local state
  if reqField then
    state = saveAgent(agentKey, a, holdField, hold, reqField, nonce .. '\31' .. fingerprint)
    rcall('ZADD', leasesKey, tomb, reqField)
  else
    state = saveAgent(agentKey, a, holdField, hold)
  end
  if wouldDeny then
    local name = poolId and pools().named(wouldDeny) or DENIALS[wouldDeny]
    shadow().event(now, tail, pr, agentId, a, ARGV[j + 2], costText, nonce, requestId, cUsed, name,
      exceeded, poolId)
    reply(C.SHADOW, state, holdCost)
    short(wouldDeny)
    return short(poolId or '')
  end
  decisionEvent(j, pr, agentId, a, '1', '', '', cUsed, '.', nonce, costText)
  return reply(C.OK, state, holdCost)
end

for j = firstDecision, #ARGV, 7 do
  decide(j)
end
out[nOut + 1] = now
if POOLS.lib then POOLS.lib.flush() end
flushEvents(outbox)
return out
