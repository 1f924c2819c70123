--[[
  settle: record what an authorized operation really used and free its hold.
  Usage that happened is never refused: it may push a budget past its limit
  (the part above the hold is the overrun, recorded and reported). The price
  is the hold's (fixed when it was made); the tokens count for the session
  current now (open holds move into a new session) and the cost for today; the
  hold is freed where it was made. Safe to run twice: the same settle again
  answers the recorded one (ALREADY_CLOSED); a different one is a conflict.
  Without a reservation id, settles the agent's oldest open hold for the
  operation (so check-then-record code never leaks a hold), remembered under
  the caller's usage id.

  KEYS[1] agent hash      tg:{s<n>}:agent:<id>
  KEYS[2] leases zset     tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream   tg:{s<n>}:outbox

  ARGV[1]  offsetMs      integer ms added to TIME (tests only)
  ARGV[2]  agentId       string
  ARGV[3]  nonce         string ('' = the oldest open hold for ARGV[4])
  ARGV[4]  operation     string (with ARGV[3] ''; else '')
  ARGV[5]  inputTokens   integer >= 0
  ARGV[6]  outputTokens  integer >= 0
  ARGV[7]  result        string ('success' | 'failure')
  ARGV[8]  keyDigest     string ('' = not an agent key)
  ARGV[9]  eventTail     string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                         4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[10] actor         string
  ARGV[11] maxFree       integer, most expired holds freed in this call
  ARGV[12] usageId       string, the caller's id of this settle (with ARGV[3] ''; else '')

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then the `settle` event (OK only).

  Returns { code, { reservationId, costMicros, overrunTokens, overrunMicros,
                    recordedState, recordedIn, recordedOut, recordedResult }, statusTuple }
  (cost and overruns: of this settle (OK) or the recorded one (ALREADY_CLOSED,
  IDEMPOTENCY_CONFLICT); the recorded values: '' when there is no record)
  Codes: OK, AGENT_NOT_FOUND, UNAUTHENTICATED, RESERVATION_NOT_FOUND,
         ALREADY_CLOSED (the same settle recorded; nothing written),
         IDEMPOTENCY_CONFLICT (another settle, or a release, recorded; nothing written),
         NO_HOLD (by operation: no open hold; or the usage id names a usage: nothing written),
         SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/records"
--- @include "includes/ready"

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local offsetMs, agentId, nonce, operation = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local inTok, outTok, result = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local digest, tail, actor, usageId = ARGV[8], ARGV[9], ARGV[10], ARGV[12]
freeBudget = tonumber(ARGV[11])
local now = nowMs(offsetMs)
local byOperation = nonce == ''

local a, v = loadAgent(agentKey, nil, byOperation and 'u:' .. usageId or 'h:' .. nonce)
if not a then
  return { shardReady(agentKey) and C.AGENT_NOT_FOUND or C.SHARD_NOT_READY, {}, {} }
end
if digest ~= '' and a.digest ~= digest then return { C.UNAUTHENTICATED, {}, {} } end

-- An answer that settles nothing (what tidyAgent did is saved and its events go out).
local function answer(code, resId, r)
  if a.dirty then saveAgent(agentKey, a) end
  flushEvents(outbox)
  local d = { resId, 0, 0, 0, '', '', '', '' }
  if r then
    d = { resId, r.charged or 0, r.ovrT or 0, r.ovrC or 0, r.st, r.inTok or '', r.outTok or '',
      r.result or '' }
  end
  return { code, d, statusOf(a, dayCostOf(agentKey, a, now), now) }
end

local fingerprint = operation .. '|' .. inTok .. '|' .. outTok .. '|' .. result
if byOperation then
  if v then
    local kind, fp, _, prior = string.match(v, '^(%a)\31([^\31]*)\31([^\31]*)\31(.*)$')
    if kind == 'u' then return answer(C.NO_HOLD, '', nil) end
    local r = readRecord(rcall('HGET', agentKey, 'h:' .. prior))
    local resId = agentId .. '.' .. prior
    if fp ~= fingerprint then return answer(C.IDEMPOTENCY_CONFLICT, resId, r) end
    return answer(C.ALREADY_CLOSED, resId, r)
  end
  tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
  local ids = rcall('ZRANGEBYSCORE', leasesKey, 0, '+inf', 'LIMIT', 0, 64)
  local values = #ids > 0 and rcall('HMGET', agentKey, unpack(ids)) or {}
  for i = 1, #ids do
    local x = values[i]
    if x and string.byte(x, 1) == 3 and readRecord(x).op == operation then
      nonce, v = string.sub(ids[i], 3), x
      break
    end
  end
  if nonce == '' then return answer(C.NO_HOLD, '', nil) end
end

-- What was recorded answers first, writing nothing; only a settle that records frees
-- expired holds too.
local resId = agentId .. '.' .. nonce
local r = readRecord(v)
if not r or r.st == 'denied' then return answer(C.RESERVATION_NOT_FOUND, resId, nil) end
if r.st == 'settled' then
  if r.inTok == inTok and r.outTok == outTok and r.result == result then
    return answer(C.ALREADY_CLOSED, resId, r)
  end
  return answer(C.IDEMPOTENCY_CONFLICT, resId, r)
end
if r.st == 'released' then return answer(C.IDEMPOTENCY_CONFLICT, resId, r) end
if not byOperation then
  tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
  -- This hold's lease may have passed: freed just now, it is settled as expired.
  if a.dirty and r.st == 'open' then r = readRecord(rcall('HGET', agentKey, 'h:' .. nonce)) end
end

-- Open, or expired (a late settle still records its usage).
if r.st == 'open' then
  a.s_res = a.s_res - r.tok
  a.c_res = a.c_res - r.cost
end
local cost = costMicros(inTok, r.rin, outTok, r.rout)
local ovrT = math.max(0, inTok + outTok - r.tok)
local ovrC = math.max(0, cost - r.cost)
a.s_used = a.s_used + inTok + outTok
a.s_cost = a.s_cost + cost
a.s_ovr = a.s_ovr + ovrT
local cUsed = chargeDay(agentKey, a, now, offsetMs, cost, ovrC)
local tomb = tombScore(now)
local holdField = 'h:' .. nonce
local record = closedText('settled', r, inTok, outTok, cost, result, ovrT, ovrC)
if byOperation then
  saveAgent(agentKey, a, holdField, record, 'u:' .. usageId,
    's\31' .. fingerprint .. '\31' .. cost .. '\31' .. nonce)
  rcall('ZADD', leasesKey, tomb, holdField, tomb, 'u:' .. usageId)
else
  saveAgent(agentKey, a, holdField, record)
  rcall('ZADD', leasesKey, tomb, holdField)
end
emit(now, tail, { 'type', 'settle', 'agent_id', agentId, 'session_id', a.sid,
  'role', a.role, 'operation', r.op, 'input_tokens', inTok, 'output_tokens', outTok,
  'cost', cost, 'overrun_tokens', ovrT, 'overrun_cost', ovrC, 'model', r.model,
  'reservation_id', resId, 'request_id', r.req, 'result', result,
  'session_utilization', pct(a.s_used, a.s_limit), 'daily_utilization', pct(cUsed, a.d_limit),
  'actor', actor })
flushEvents(outbox)
return { C.OK, { resId, cost, ovrT, ovrC, 'settled', inTok, outTok, result }, statusOf(a, cUsed, now) }
